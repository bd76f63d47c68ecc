"""A small Hanwha SUNAPI camera simulator (see docs/cameras.md and docs/devices/camera.md).

Run one with ``python -m hctools.camerasim --bind 10.31.81.10 --state-dir DIR``.
"""
from .sim import MODELS, CameraSim, main  # noqa: F401
