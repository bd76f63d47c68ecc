"""The isolation modes of simfleet behind one interface (base.Isolation): namespaces (root) and ports."""

from __future__ import annotations

import os

from ..hostutil import FleetError
from .base import Isolation
from .namespaces import Namespaces, check_root
from .ports import Ports

MODES = {m.name: m for m in (Namespaces(), Ports())}
ISOLATIONS = tuple(MODES)

__all__ = ["ISOLATIONS", "Isolation", "MODES", "check_root", "default_isolation", "get"]


def get(name: str) -> Isolation:
    return MODES[name]


def default_isolation() -> str:
    """$SIMFLEET_ISOLATION, else namespaces as root and ports otherwise."""
    forced = os.environ.get("SIMFLEET_ISOLATION", "").strip()
    if forced:
        if forced not in ISOLATIONS:
            raise FleetError(f"SIMFLEET_ISOLATION must be one of {', '.join(ISOLATIONS)}, got {forced!r}")
        return forced
    return "namespaces" if os.geteuid() == 0 else "ports"
