"""The simulator's one rule for the way round between two pan angles, used by its motion and by its
pictures: the signed shortest turn, never more than half a circle, across the 0/360 seam."""

import pytest

from hctools.camerasim import ptz


@pytest.mark.parametrize("frm,to,turn", [
    (0.0, 90.0, 90.0),
    (90.0, 0.0, -90.0),
    (350.0, 10.0, 20.0),       # across north, forwards
    (10.0, 350.0, -20.0),      # across north, backwards
    (0.0, 270.0, -90.0),       # the short way is backwards
    (45.0, 45.0, 0.0),
    (0.0, 180.0, 180.0),
    (-30.0, 30.0, 60.0),       # unnormalised inputs (the picture's edge azimuths)
    (0.0, 720.0 + 15.0, 15.0),
])
def test_shortest_turn(frm, to, turn):
    assert ptz.shortest(frm, to) == pytest.approx(turn)
