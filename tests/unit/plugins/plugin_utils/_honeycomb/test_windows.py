# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows (plugin_utils/_honeycomb/windows.py) on a fake clock: days, hours, time zones,
midnight crossing, daylight-saving changes, several windows, and bad input naming the bad field."""

import datetime as dt
import zoneinfo

import pytest

from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import deferral
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import windows as w

UTC = dt.timezone.utc
CHICAGO = zoneinfo.ZoneInfo("America/Chicago")


def at(text, tz=UTC):
    """An aware datetime from 'YYYY-MM-DD HH:MM' in ``tz``."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=tz)


WEEKNIGHTS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "02:00", "end": "05:00",
              "timezone": "America/Chicago"}


# 2026-03-02 is a Monday
@pytest.mark.parametrize("local, inside", [
    ("2026-03-02 01:59", False),
    ("2026-03-02 02:00", True),   # start is inside
    ("2026-03-02 04:59", True),
    ("2026-03-02 05:00", False),  # end is outside
    ("2026-03-07 03:00", False),  # Saturday
    ("2026-03-06 03:00", True),   # Friday
])
def test_days_and_hours_on_the_windows_wall_clock(local, inside):
    assert w.evaluate(WEEKNIGHTS, at(local, CHICAGO))["open"] is inside


def test_the_time_zone_is_the_windows_not_the_controllers():
    # 08:30 UTC on Monday 2026-03-02 is 02:30 in Chicago (CST, UTC-6): inside; 02:30 UTC is Sunday evening there
    assert w.evaluate(WEEKNIGHTS, at("2026-03-02 08:30"))["open"] is True
    assert w.evaluate(WEEKNIGHTS, at("2026-03-02 02:30"))["open"] is False
    # no timezone: UTC
    assert w.evaluate({"start": "02:00", "end": "05:00"}, at("2026-03-02 02:30"))["open"] is True


@pytest.mark.parametrize("local, inside", [
    ("2026-03-06 21:59", False),  # Friday before the start
    ("2026-03-06 22:00", True),   # Friday night: starts on a listed day
    ("2026-03-07 00:00", True),   # past midnight, still Friday's window
    ("2026-03-07 05:59", True),
    ("2026-03-07 06:00", False),
    ("2026-03-07 23:00", False),  # Saturday night is not a start day
    ("2026-03-05 23:00", False),  # Thursday night is not either
    ("2026-03-06 03:00", False),  # early Friday: the night before started on Thursday
])
def test_a_window_crossing_midnight_belongs_to_the_day_it_starts(local, inside):
    friday_night = {"days": ["fri"], "start": "22:00", "end": "06:00", "timezone": "America/Chicago"}
    assert w.evaluate(friday_night, at(local, CHICAGO))["open"] is inside


def test_daylight_saving_changes_keep_local_hours():
    # Chicago springs forward on 2026-03-08 at 02:00 (to 03:00): a daily 02:00-05:00 window opens at 03:00 CDT
    daily = {"start": "02:00", "end": "05:00", "timezone": "America/Chicago"}
    assert w.evaluate(daily, at("2026-03-08 07:59"))["open"] is False   # 01:59 CST
    assert w.evaluate(daily, at("2026-03-08 08:00"))["open"] is True    # 03:00 CDT
    assert w.evaluate(daily, at("2026-03-08 09:59"))["open"] is True    # 04:59 CDT
    assert w.evaluate(daily, at("2026-03-08 10:00"))["open"] is False   # 05:00 CDT
    closed = w.evaluate(daily, at("2026-03-08 07:00"))                  # 01:00 CST
    assert closed["next_open"] == "2026-03-08T08:00:00Z"                # the first moment after the gap
    # the day before, the same window opens at 02:00 CST = 08:00 UTC; the day after, 02:00 CDT = 07:00 UTC
    assert w.evaluate(daily, at("2026-03-07 07:00"))["next_open"] == "2026-03-07T08:00:00Z"
    assert w.evaluate(daily, at("2026-03-09 06:00"))["next_open"] == "2026-03-09T07:00:00Z"
    # falls back on 2026-11-01 at 02:00 CDT (to 01:00 CST): a 01:00-02:00 window is open both times 01:30 comes
    one = {"start": "01:00", "end": "02:00", "timezone": "America/Chicago"}
    assert w.evaluate(one, at("2026-11-01 06:30"))["open"] is True      # 01:30 CDT
    assert w.evaluate(one, at("2026-11-01 07:30"))["open"] is True      # 01:30 CST
    assert w.evaluate(one, at("2026-11-01 08:00"))["open"] is False     # 02:00 CST
    # a window inside the skipped hour does not happen that night: it opens the next night
    gap = {"start": "02:15", "end": "02:45", "timezone": "America/Chicago"}
    assert w.evaluate(gap, at("2026-03-08 07:00"))["next_open"] == "2026-03-09T07:15:00Z"


def test_several_windows_any_of_them_opens():
    both = [WEEKNIGHTS, {"days": ["sat", "sun"], "start": "10:00", "end": "24:00", "timezone": "UTC"}]
    assert w.evaluate(both, at("2026-03-07 23:59"))["open"] is True     # Saturday, second window
    assert w.evaluate(both, at("2026-03-02 08:30"))["open"] is True     # Monday, first window
    closed = w.evaluate(both, at("2026-03-02 12:00"))                   # Monday noon UTC
    assert closed["open"] is False
    assert closed["next_open"] == "2026-03-03T08:00:00Z"                # Tuesday 02:00 CST
    assert closed["windows"] == ["mon,tue,wed,thu,fri 02:00-05:00 America/Chicago", "sat,sun 10:00-24:00 UTC"]
    assert "outside the maintenance window" in closed["msg"] and "2026-03-03T08:00:00Z" in closed["msg"]


def test_no_window_is_always_open_and_the_override_opens_a_closed_one():
    assert w.evaluate(None, at("2026-03-02 12:00"))["open"] is True
    assert w.evaluate([], at("2026-03-02 12:00"))["open"] is True
    ignored = w.evaluate(WEEKNIGHTS, at("2026-03-02 12:00"), ignore=True)
    assert ignored["open"] is True and ignored["ignored"] is True and "honeycomb_ignore_windows" in ignored["msg"]
    assert deferral.closed_window({"maintenance_window": WEEKNIGHTS, "ignore_windows": True}) is None
    assert deferral.closed_window({"maintenance_window": None}) is None
    closed = deferral.closed_window({"maintenance_window": WEEKNIGHTS}, now=at("2026-03-02 12:00"))
    assert closed["open"] is False
    result = deferral.deferred(closed, staged=True, transferred=True, bytes_sent=10)
    assert result["status"] == "deferred" and not result.get("failed") and result["changed"] is True


def test_windows_given_as_yaml_text_are_read():
    text = '[{days: [mon], start: "02:00", end: "05:00", timezone: America/Chicago}]'
    assert w.evaluate(text, at("2026-03-02 02:30", CHICAGO))["open"] is True
    with pytest.raises(w.WindowError) as err:
        w.evaluate("[{start: ", at("2026-03-02 02:30"))
    assert "not readable YAML" in str(err.value)


def test_days_accept_names_daily_and_text():
    assert w.parse_one({"days": "daily", "start": "00:00", "end": "24:00"}).days == set(range(7))
    assert w.parse_one({"days": "Sat, sunday", "start": "00:00", "end": "01:00"}).days == {5, 6}


@pytest.mark.parametrize("value, words", [
    ({"days": ["mon"], "start": "2:00am", "end": "05:00"}, ["start", "HH:MM"]),
    ({"start": "02:00", "end": "25:00"}, ["end", "HH:MM"]),
    ({"start": "02:00"}, ["end is missing"]),
    ({"start": 200, "end": "05:00"}, ["start", "quoted"]),
    ({"days": ["mon", "funday"], "start": "02:00", "end": "05:00"}, ["days", "funday"]),
    ({"days": [], "start": "02:00", "end": "05:00"}, ["days"]),
    ({"start": "02:00", "end": "05:00", "timezone": "America/Chicgo"}, ["timezone", "America/Chicgo"]),
    ({"start": "02:00", "end": "02:00"}, ["empty window", "24:00"]),
    ({"start": "24:00", "end": "02:00"}, ["start", "before 24:00"]),
    ({"start": "02:00", "end": "05:00", "tz": "UTC"}, ["unknown field", "tz"]),
    ("02:00-05:00", ["honeycomb_maintenance_window", "mapping"]),
    ([WEEKNIGHTS, {"start": "02:00", "end": "5"}], ["honeycomb_maintenance_window[1]", "end"]),
])
def test_bad_windows_are_clear_errors_naming_the_field(value, words):
    with pytest.raises(w.WindowError) as err:
        w.evaluate(value, at("2026-03-02 12:00"))
    for word in words:
        assert word in str(err.value), (word, str(err.value))
    # the override does not hide a typo
    with pytest.raises(ValueError):
        deferral.closed_window({"maintenance_window": value, "ignore_windows": True})


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError):
        w.evaluate(WEEKNIGHTS, dt.datetime(2026, 3, 2, 12, 0))
