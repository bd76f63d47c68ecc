# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Idempotent PTZ logic shared by camera_ptz and camera_info (node side, Python 3.6+, stdlib only).

Everything is validated and planned before the first control request, so bad input never leaves a
half-applied change. Order of changes: preset removals, renames, new or re-recorded presets (each
one a move, a wait until settled, then an add), and last the final position or goto_preset.
"""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
import time

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.driver import (
    MODELS, PRESET_NAME_MAX, CameraDeviceError, CameraError, CameraNoPTZ, CameraNotSettled)

AXES = ("pan", "tilt", "zoom")
PRESET_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,%d}$" % PRESET_NAME_MAX)
DEFAULT_MAX_PRESETS = 1000
# Two readings this close are "the same" while waiting for a move without a known target.
STILL_EPSILON = 0.05


class CameraInputError(CameraError):
    kind = "input"


def axis_distance(axis, a, b):
    if axis == "pan":
        d = abs(a - b) % 360.0
        return min(d, 360.0 - d)
    return abs(a - b)


def within(pos, target, tol):
    """True when every axis given in target is within tol[axis] of pos (pan modulo 360)."""
    for axis in AXES:
        if target.get(axis) is None:
            continue
        if axis_distance(axis, pos[axis], target[axis]) > tol[axis]:
            return False
    return True


def fmt_pos(pos):
    if not pos:
        return "unknown"
    return ", ".join("%s %.2f" % (a, pos[a]) for a in AXES if pos.get(a) is not None)


def resolve_limits(model, override):
    """-> (limits dict axis -> (lo, hi) or None, max_presets). Override wins over the model table."""
    spec = MODELS.get(model or "", {})
    limits = {}
    for axis in AXES:
        rng = (override or {}).get(axis) or spec.get(axis)
        if rng is not None:
            if not isinstance(rng, (list, tuple)) or len(rng) != 2:
                raise CameraInputError("limits.%s must be a list [min, max], got %r" % (axis, rng))
            try:
                lo, hi = float(rng[0]), float(rng[1])
            except (TypeError, ValueError):
                raise CameraInputError("limits.%s must hold two numbers, got %r" % (axis, rng))
            if lo > hi:
                raise CameraInputError("limits.%s: min %s is above max %s" % (axis, lo, hi))
            limits[axis] = (lo, hi)
        else:
            limits[axis] = None
    max_presets = int((override or {}).get("max_presets") or spec.get("max_presets") or DEFAULT_MAX_PRESETS)
    return limits, max_presets


def normalise_position(pos, limits, model, where="position"):
    """Validates a {pan, tilt, zoom} dict (any subset) -> dict with floats, pan in [0, 360)."""
    if pos is None:
        return None
    if not isinstance(pos, dict):
        raise CameraInputError("%s must be a dict with pan, tilt and/or zoom, got %r" % (where, pos))
    unknown = sorted(set(pos) - set(AXES))
    if unknown:
        raise CameraInputError("%s has unknown key(s) %s: use pan, tilt, zoom" % (where, ", ".join(unknown)))
    out = {}
    for axis in AXES:
        value = pos.get(axis)
        if value is None:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise CameraInputError("%s.%s must be a number, got %r" % (where, axis, value))
        if math.isnan(value) or math.isinf(value):
            raise CameraInputError("%s.%s must be a finite number" % (where, axis))
        rng = limits.get(axis)
        if axis == "pan" and (rng is None or rng[1] - rng[0] >= 360.0):
            value = value % 360.0
        elif rng is not None and not rng[0] <= value <= rng[1]:
            raise CameraInputError("%s.%s=%s is outside the %s range %s..%s: use a value inside it (or set "
                                   "limits if the model table is wrong)" % (where, axis, value, model or "camera",
                                                                            rng[0], rng[1]))
        out[axis] = value
    if not out:
        raise CameraInputError("%s is empty: give at least one of pan, tilt, zoom" % where)
    return out


class Mover(object):
    """Commands moves and polls the position until it settles (moves are asynchronous)."""

    def __init__(self, driver, tolerance, settle_timeout=60.0, poll_interval=0.5, stable_polls=3,
                 sleep=time.sleep, clock=time.time):
        self.driver = driver
        self.tol = tolerance
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self.stable_polls = max(2, stable_polls)
        self.sleep = sleep
        self.clock = clock
        self.polls = 0

    def move_to(self, target):
        self.driver.move_absolute(**target)
        return self.wait(target)

    def wait(self, target=None, what=None):
        """Polls until within tolerance of target, or (no target) until stable_polls readings agree."""
        deadline = self.clock() + self.settle_timeout
        last, same, near = None, 0, 0
        while True:
            self.sleep(self.poll_interval)
            pos = self.driver.get_position()
            self.polls += 1
            # Two readings in a row within tolerance: passing through the target is not arriving.
            near = near + 1 if target is not None and within(pos, target, self.tol) else 0
            if near >= 2:
                return pos
            still = last is not None and within(pos, last, dict((a, STILL_EPSILON) for a in AXES))
            same = same + 1 if still else 0
            if target is None and same >= self.stable_polls - 1:
                return pos
            last = pos
            if self.clock() >= deadline:
                goal = fmt_pos(target) if target is not None else (what or "a stable position")
                state = "stopped" if still else "still moving"
                raise CameraNotSettled(
                    "the camera did not settle at %s within %s s (last position %s, %s): check the camera for "
                    "obstructions or a fault, or raise settle_timeout" % (goal, self.settle_timeout,
                                                                          fmt_pos(pos), state))


class PtzManager(object):
    def __init__(self, driver, tolerance, settle_timeout=60.0, poll_interval=0.5, stable_polls=3,
                 limits=None, sleep=time.sleep, clock=time.time):
        self.driver = driver
        self.tol = tolerance
        self.limits_override = limits
        self.mover = Mover(driver, tolerance, settle_timeout, poll_interval, stable_polls, sleep, clock)
        self.actions = []
        self.warnings = []

    # ---- facts ---------------------------------------------------------------------------------
    def facts(self):
        info = self.driver.get_info()
        spec = MODELS.get(info.get("model") or "")
        result = {"info": info, "ptz": True, "position": None, "presets": []}
        if spec is not None and not spec["ptz"]:
            result["ptz"] = False
            return result
        try:
            result["position"] = self.driver.get_position()
        except CameraNoPTZ:
            result["ptz"] = False
            return result
        presets = self.driver.list_presets()
        result["presets"] = [{"number": n, "name": presets[n]} for n in sorted(presets)]
        return result

    # ---- desired state -------------------------------------------------------------------------
    def _validate_presets(self, presets, limits, model, max_presets):
        seen = set()
        out = []
        for i, p in enumerate(presets or []):
            where = "presets[%d]" % i
            number = p.get("number")
            if isinstance(number, bool) or not isinstance(number, int):
                raise CameraInputError("%s.number must be an integer, got %r" % (where, number))
            if not 1 <= number <= max_presets:
                raise CameraInputError("%s.number=%d is outside 1..%d for %s" % (where, number, max_presets,
                                                                                 model or "this camera"))
            if number in seen:
                raise CameraInputError("%s: preset number %d is listed twice; list each number once"
                                       % (where, number))
            seen.add(number)
            state = p.get("state") or "present"
            name = p.get("name")
            if state == "present":
                if not name or not PRESET_NAME_RE.match(name):
                    raise CameraInputError(
                        "%s.name=%r: preset %d needs a name of 1 to %d letters, digits, '-' or '_' (SUNAPI "
                        "limit)" % (where, name, number, PRESET_NAME_MAX))
            pos = normalise_position(p.get("position"), limits, model, where + ".position")
            if p.get("record_position") and pos is None:
                raise CameraInputError("%s: record_position needs a position to move to before recording "
                                       "preset %d" % (where, number))
            out.append({"number": number, "name": name, "state": state, "position": pos,
                        "record_position": bool(p.get("record_position"))})
        return out

    def run(self, position=None, presets=None, purge_presets=False, goto_preset=None, check_mode=False):
        driver = self.driver
        info = driver.get_info()
        model = info.get("model")
        spec = MODELS.get(model or "")
        if spec is not None and not spec["ptz"]:
            raise CameraNoPTZ("the %s is a %s, a fixed-lens model without pan, tilt or zoom: nothing was sent. "
                              "Leave it out of the PTZ settings (camera_info still reports its facts)"
                              % (driver.where(), model))
        override = self.limits_override
        if spec is None and not override and (position or presets):
            override = driver.get_limits()
        limits, max_presets = resolve_limits(model, override)
        if spec is None and not override and (position or presets):
            self.warnings.append("camera model %r is not in the model table: positions are not range-checked "
                                 "(set limits to check them)" % model)
        target = normalise_position(position, limits, model)
        wanted = self._validate_presets(presets, limits, model, max_presets)
        if goto_preset is not None and not 1 <= goto_preset <= max_presets:
            raise CameraInputError("goto_preset=%d is outside 1..%d" % (goto_preset, max_presets))

        start = driver.get_position()
        existing = driver.list_presets()

        # ---- plan ----
        present = dict((p["number"], p) for p in wanted if p["state"] == "present")
        removals = [p["number"] for p in wanted if p["state"] == "absent" and p["number"] in existing]
        if purge_presets:
            removals += [n for n in sorted(existing) if n not in present and n not in removals]
        renames, adds, verifies = [], [], []
        for n in sorted(present):
            p = present[n]
            if n not in existing:
                adds.append(p)
            elif p["record_position"]:
                verifies.append(p)
            elif existing[n] != p["name"]:
                renames.append(p)
        after_presets = dict((n, name) for n, name in existing.items() if n not in removals)
        for p in adds + renames + verifies:
            after_presets[p["number"]] = p["name"]
        if goto_preset is not None and goto_preset not in after_presets:
            raise CameraInputError("goto_preset=%d: the camera has no preset %d (it has %s): add it under presets "
                                   "first" % (goto_preset, goto_preset,
                                              ", ".join(str(n) for n in sorted(after_presets)) or "none"))
        for p in adds:
            if p["position"] is None:
                self.warnings.append("preset %d is recorded at the camera's current position (%s): give it a "
                                     "position to choose where it points" % (p["number"], fmt_pos(start)))
        move_needed = target is not None and not within(start, target, self.tol)

        before = {"position": start, "presets": _preset_view(existing)}
        if check_mode:
            self.actions += ["remove preset %d" % n for n in removals]
            self.actions += ["rename preset %d to %r" % (p["number"], p["name"]) for p in renames]
            self.actions += ["add preset %d %r" % (p["number"], p["name"]) for p in adds]
            self.actions += ["verify preset %d position (moves the camera; assumed to change)" % p["number"]
                             for p in verifies]
            after_pos = dict(start)
            if move_needed:
                after_pos.update(target)
                self.actions.append("move to %s" % fmt_pos(target))
            if goto_preset is not None:
                self.actions.append("go to preset %d (its position is only known after moving)" % goto_preset)
            after = {"position": after_pos, "presets": _preset_view(after_presets)}
            if goto_preset is not None:
                after["position"] = "preset %d" % goto_preset
            return self._result(info, before, after, changed=bool(self.actions))

        # ---- apply ----
        changed = False
        moved = False
        for n in removals:
            driver.remove_preset(n)
            self.actions.append("remove preset %d" % n)
            changed = True
        for p in renames:
            driver.rename_preset(p["number"], p["name"])
            self.actions.append("rename preset %d to %r" % (p["number"], p["name"]))
            changed = True
        for p in adds:
            if p["position"] is not None:
                self.mover.move_to(p["position"])
                moved = True
            driver.add_preset(p["number"], p["name"])
            where = fmt_pos(p["position"]) if p["position"] else "the current position"
            self.actions.append("add preset %d %r at %s" % (p["number"], p["name"], where))
            changed = True
        for p in verifies:
            driver.goto_preset(p["number"])
            moved = True
            stored = self.mover.wait(None, "preset %d" % p["number"])
            if within(stored, p["position"], self.tol):
                if existing[p["number"]] != p["name"]:
                    driver.rename_preset(p["number"], p["name"])
                    self.actions.append("rename preset %d to %r" % (p["number"], p["name"]))
                    changed = True
                continue
            self.mover.move_to(p["position"])
            self._overwrite_preset(p["number"], p["name"])
            self.actions.append("re-record preset %d %r at %s (was %s)"
                                % (p["number"], p["name"], fmt_pos(p["position"]), fmt_pos(stored)))
            changed = True
        if target is not None:
            if moved or move_needed:
                current = driver.get_position()
                if not within(current, target, self.tol):
                    self.mover.move_to(target)
                    if move_needed:
                        self.actions.append("move to %s" % fmt_pos(target))
                        changed = True
        elif goto_preset is not None:
            driver.goto_preset(goto_preset)
            final = self.mover.wait(None, "preset %d" % goto_preset)
            if not within(final, start, self.tol):
                self.actions.append("go to preset %d" % goto_preset)
                changed = True
        elif moved:
            # Recording presets moved the camera; put it back where it was.
            self.mover.move_to(start)
        after = {"position": driver.get_position(), "presets": _preset_view(driver.list_presets())}
        return self._result(info, before, after, changed=changed)

    def _overwrite_preset(self, number, name):
        try:
            self.driver.add_preset(number, name)
        except CameraDeviceError:
            # Cameras that refuse add on a used number: remove, then add (a short window without it).
            self.driver.remove_preset(number)
            self.driver.add_preset(number, name)

    def _result(self, info, before, after, changed):
        return {"changed": changed, "before": before, "after": after, "actions": list(self.actions),
                "info": info, "warnings": list(self.warnings), "polls": self.mover.polls}


def _preset_view(presets):
    return dict((str(n), presets[n]) for n in sorted(presets))
