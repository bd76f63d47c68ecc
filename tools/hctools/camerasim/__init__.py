"""A Hanwha SUNAPI (and AXIS VAPIX) camera simulator (see docs/cameras.md).

Run one with ``python -m hctools.camerasim --bind 10.31.81.10 --state-dir DIR``.
"""
from .sim import MODELS, CameraSim, main, make_image  # noqa: F401
