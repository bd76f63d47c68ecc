# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows of a node: when the rollout may install (controller only, Python >= 3.10).

A node's (or group's) variable ``honeycomb_maintenance_window`` holds one window or a list of them::

    honeycomb_maintenance_window:
      - {days: [mon, tue, wed, thu, fri], start: "02:00", end: "05:00", timezone: America/Chicago}
      - {days: [sat, sun], start: "22:00", end: "06:00", timezone: America/Chicago}   # crosses midnight

``days`` are the days a window *starts* on (``mon`` ... ``sun``, or ``daily``; default every day),
``start``/``end`` are wall-clock times ``HH:MM`` in ``timezone`` (an IANA name, default ``UTC``;
``end`` may be ``24:00``). A window whose end is not after its start crosses midnight: it ends on the
next day. The node is inside its windows when it is inside any of them.

Times are compared on the wall clock of the window's time zone, so a window keeps its local hours across
daylight-saving changes; on the day clocks go forward, the skipped hour does not exist (a window
02:00-05:00 is two hours long that night), on the day they go back the repeated hour is inside a window
that covers it both times.

Pure: every function takes the time (an aware ``datetime``) as an argument; :func:`parse` raises
:class:`WindowError` naming the bad field.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime as dt
import re
from collections.abc import Mapping

try:
    import zoneinfo
except ImportError:  # pragma: no cover - the controller runs Python >= 3.10 (ansible-core 2.16+)
    zoneinfo = None

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = dict([(d, i) for i, d in enumerate(DAYS)]
                    + [(name, i) for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday",
                                                           "saturday", "sunday"))])
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
KEYS = ("days", "start", "end", "timezone")
VARIABLE = "honeycomb_maintenance_window"


class WindowError(ValueError):
    """A window that cannot be read; the message names the window and the field."""


class Window:
    """One parsed window: ``days`` (set of weekday numbers, Monday 0), ``start``/``end`` (minutes after
    midnight, end up to 1440), ``tz`` (a tzinfo) and ``timezone`` (its name)."""

    def __init__(self, days, start, end, timezone, tz, text):
        self.days, self.start, self.end, self.timezone, self.tz, self.text = days, start, end, timezone, tz, text

    @property
    def crosses_midnight(self):
        return self.end <= self.start

    def contains(self, now):
        """Whether the aware datetime ``now`` is inside this window."""
        local = now.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if not self.crosses_midnight:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or ((day - 1) % 7 in self.days and minute < self.end)

    def opens(self, now, horizon_days=8):
        """The first moment at or after ``now`` (UTC) at which this window is open, or None within the horizon."""
        local = now.astimezone(self.tz)
        if self.contains(now):
            return now.astimezone(dt.timezone.utc)
        for offset in range(horizon_days + 1):
            day = local.date() + dt.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            wall = dt.datetime.combine(day, dt.time(self.start // 60, self.start % 60), tzinfo=self.tz)
            moment = wall.astimezone(dt.timezone.utc)
            # a start inside the skipped hour of a DST change maps to the first moment after it
            if moment >= now and self.contains(moment):
                return moment
        return None

    def describe(self):
        return self.text


def _minutes(value, field, where):
    text = value if isinstance(value, str) else None
    match = _TIME.match(text.strip()) if text is not None else None
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise WindowError("%s: %s must be a time HH:MM (00:00 to 24:00, as a quoted string), got %r"
                          % (where, field, value))
    return int(match.group(1)) * 60 + int(match.group(2))


def _days(value, where):
    if value is None or value == "daily" or value == ["daily"]:
        return set(range(7))
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value:
        raise WindowError("%s: days must be a list of week days (mon, tue, wed, thu, fri, sat, sun) or 'daily', "
                          "got %r" % (where, value))
    days = set()
    for item in value:
        key = str(item).strip().lower()
        if key not in _DAY_ALIASES:
            raise WindowError("%s: days: %r is not a week day; use mon, tue, wed, thu, fri, sat or sun"
                              % (where, item))
        days.add(_DAY_ALIASES[key])
    return days


def _zone(name, where):
    if name is None or name == "":
        name = "UTC"
    if not isinstance(name, str):
        raise WindowError("%s: timezone must be an IANA time zone name such as America/Chicago, got %r"
                          % (where, name))
    if name.upper() == "UTC":
        return "UTC", dt.timezone.utc
    if zoneinfo is None:  # pragma: no cover
        raise WindowError("%s: timezone %s needs Python's zoneinfo (Python >= 3.9 on the controller); use "
                          "timezone UTC" % (where, name))
    try:
        return name, zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowError("%s: timezone %r is not a known IANA time zone (such as America/Chicago or UTC): %s; if the "
                          "name is right, the controller lacks time zone data (install the tzdata package, or the "
                          "tzdata Python package in the execution environment)" % (where, name, exc))


def parse_one(value, where="window"):
    """One window from its mapping; WindowError names ``where`` and the bad field."""
    if not isinstance(value, Mapping):
        raise WindowError("%s must be a mapping with days, start, end and timezone, got %r" % (where, value))
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise WindowError("%s: unknown field(s) %s; a window has %s" % (where, ", ".join(map(str, unknown)),
                                                                        ", ".join(KEYS)))
    for field in ("start", "end"):
        if value.get(field) in (None, ""):
            raise WindowError("%s: %s is missing (a time HH:MM)" % (where, field))
    start = _minutes(value["start"], "start", where)
    end = _minutes(value["end"], "end", where)
    if start == 1440:
        raise WindowError("%s: start must be before 24:00, got %r" % (where, value["start"]))
    if start == end:
        raise WindowError("%s: start and end are both %s, an empty window; for a whole day use start 00:00 and "
                          "end 24:00" % (where, value["start"]))
    days = _days(value.get("days"), where)
    name, tz = _zone(value.get("timezone"), where)
    day_text = "daily" if len(days) == 7 else ",".join(DAYS[d] for d in sorted(days))
    text = "%s %s-%s %s" % (day_text, value["start"].strip(), value["end"].strip(), name)
    return Window(days, start, end, name, tz, text)


def parse(value, name=VARIABLE):
    """The windows of a node from its variable (one mapping, or a list of them): a list of
    :class:`Window`, empty when ``value`` is None or an empty list (no window: always open)."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):  # YAML/JSON text, as AWX extra vars may give it
        import yaml
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise WindowError("%s is not readable YAML: %s" % (name, exc))
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, Mapping):
        return [parse_one(value, name)]
    if not isinstance(value, (list, tuple)):
        raise WindowError("%s must be a window (a mapping with days, start, end, timezone) or a list of them, got %r"
                          % (name, value))
    return [parse_one(item, "%s[%d]" % (name, i)) for i, item in enumerate(value)]


def _iso(moment):
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def evaluate(value, now, ignore=False):
    """Whether a node may install at ``now`` (an aware datetime).

    Returns a dict: ``open`` (bool), ``windows`` (their descriptions), ``ignored`` (the operator's
    override was set and a window would have deferred), ``next_open`` (UTC ISO time the next window
    opens, when closed) and ``msg``. WindowError for a bad window (also with ``ignore``: a typo must not
    wait for the day the override is lifted).
    """
    if now.tzinfo is None:
        raise ValueError("evaluate needs an aware datetime")
    windows = parse(value)
    texts = [w.describe() for w in windows]
    inside = not windows or any(w.contains(now) for w in windows)
    result = {"open": True, "windows": texts, "ignored": False, "next_open": None, "msg": ""}
    if not windows:
        result["msg"] = "no maintenance window"
        return result
    if inside:
        result["msg"] = "inside the maintenance window (%s)" % "; ".join(texts)
        return result
    opens = [m for m in (w.opens(now) for w in windows) if m is not None]
    result["next_open"] = _iso(min(opens)) if opens else None
    if ignore:
        result["ignored"] = True
        result["msg"] = "outside the maintenance window (%s), ignored by honeycomb_ignore_windows" % "; ".join(texts)
        return result
    result["open"] = False
    result["msg"] = "outside the maintenance window (%s)%s" % (
        "; ".join(texts), ("; it opens next at %s" % result["next_open"]) if result["next_open"] else "")
    return result
