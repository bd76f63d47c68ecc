# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catch_up filter: which nodes of the fleet status table (playbooks/status.yml) are not yet at a
target version of a peripheral. Its documentation is in catch_up.yml next to this file."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def catch_up(table, target_version, peripheral=None):
    """``table``: playbooks/status.yml's ``honeycomb_versions`` (``peripherals``, ``nodes`` name ->
    ``reachable``, ``versions``, ``msg``). Returns the nodes not at ``target_version`` (see catch_up.yml)."""
    where = "catch_up"
    if not isinstance(table, Mapping) or not isinstance(table.get("nodes"), Mapping):
        raise AnsibleFilterError("%s: the input must be the fleet status table of playbooks/status.yml "
                                 "(honeycomb_versions, with 'nodes'), got %r" % (where, type(table).__name__))
    target = "" if target_version is None else str(target_version).strip()
    if not target:
        raise AnsibleFilterError("%s: give the target version (-e target_version=1.2.3)" % where)
    known = sorted(set(table.get("peripherals") or []))
    if peripheral in (None, ""):
        if len(known) != 1:
            raise AnsibleFilterError(
                "%s: say which peripheral target_version %s is of (-e peripheral=<name>); the nodes report %s"
                % (where, target, ", ".join(known) if known else "no installed peripheral at all"))
        peripheral = known[0]
    peripheral = str(peripheral)
    behind, at_target, details = [], [], {}
    for name in sorted(table["nodes"]):
        row = table["nodes"][name] if isinstance(table["nodes"][name], Mapping) else {}
        reachable = bool(row.get("reachable", False))
        version = (row.get("versions") or {}).get(peripheral)
        if not reachable:
            reason = "unreachable, version unknown%s" % ((": " + str(row["msg"])) if row.get("msg") else "")
        elif version is None:
            reason = "%s not installed" % peripheral
        elif str(version) != target:
            reason = "at %s" % version
        else:
            reason = ""
        details[name] = {"reachable": reachable, "version": version, "reason": reason}
        (behind if reason else at_target).append(name)
    line = "%d of %d node%s not at %s %s" % (len(behind), len(details), "" if len(details) == 1 else "s",
                                             peripheral, target)
    if behind:
        line += ": " + ", ".join("%s (%s)" % (n, details[n]["reason"]) for n in behind)
    return {"peripheral": peripheral, "target_version": target, "nodes": behind, "count": len(behind),
            "at_target": at_target, "total": len(details), "details": details, "limit": ",".join(behind),
            "line": line, "file_text": "".join(n + "\n" for n in behind)}


class FilterModule(object):
    """waggle.honeycomb catch-up filter."""

    def filters(self):
        return {"catch_up": catch_up}
