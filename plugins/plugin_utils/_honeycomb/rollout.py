# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout playbooks' settings and each node's status, for the ``waggle.honeycomb.rollout`` action
(controller only).

:func:`settings` checks the rollout's knobs once (docs/rollout.md has the table) and returns them
normalised; :func:`node_status` is the one place that says which status a node of a rollout ended with,
from what the run left in its host variables: the ``waggle.honeycomb.upgrade`` result the rollout play
registers (``honeycomb_upgrade``), the sanity pre-check's gate group and the post-check's
``sanity_status``. What a status means (success, failure ...) is the status model's
(plugins/module_utils/_honeycomb/status.py); no status is derived from a task's name.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st

RESULT_VAR = "honeycomb_upgrade"
"""The variable the rollout play registers the upgrade task's result in."""
DEFAULT_BATCHES = [1, "10%", "100%"]
DEFAULT_POST_CHECK_FAIL_ON = ["fatal", "error", "unreachable"]


class SettingsError(ValueError):
    pass


def _batches(value):
    if value is None or value == "":
        return list(DEFAULT_BATCHES)
    if isinstance(value, str):
        import yaml  # AWX surveys give text
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise SettingsError("rollout_batches %r is not a YAML list: %s" % (value, exc))
        if isinstance(value, (int, str)):
            value = [value]
    if not is_sequence(value) or not value:
        raise SettingsError("rollout_batches must be a non-empty list such as [1, \"10%%\", \"100%%\"], got %r" % (value,))
    out = []
    for item in value:
        text = str(item).strip()
        number = text[:-1] if text.endswith("%") else text
        if isinstance(item, bool) or not number.isdigit() or int(number) < 1 or (text.endswith("%") and int(number) > 100):
            raise SettingsError("rollout_batches: %r is not a batch size (a number of nodes >= 1, or a percentage "
                                "such as \"10%%\")" % (item,))
        out.append(int(text) if not text.endswith("%") else text)
    return out


def _positive_int(args, name, minimum=1):
    value = args.get(name)
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError("%s must be a whole number of %s, got %r" % (
            name, "resumes" if name.endswith("resumes") else "seconds", value))
    if number < minimum:
        raise SettingsError("%s must be >= %d, got %r" % (name, minimum, value))
    return number


def _bool(args, name, default=True):
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise SettingsError("%s must be true or false, got %r" % (name, value))


def _names(args, name, default):
    value = args.get(name)
    if value is None:
        return list(default)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not is_sequence(value) or not all(isinstance(v, str) for v in value):
        raise SettingsError("%s must be a list of sanity statuses such as [fatal, error, unreachable], got %r"
                            % (name, value))
    return list(value)


def settings(args):
    """Check and normalise the rollout's settings (the ``settings`` step's options, see
    plugins/modules/rollout.py); SettingsError names the bad value and what to give instead."""
    run_kind = args.get("rollout_kind") or "upgrade"
    if run_kind not in ("upgrade", "rollback"):
        raise SettingsError("rollout_kind must be upgrade or rollback, got %r" % (run_kind,))
    payload = args.get("payload") or ""
    peripheral = args.get("rollback_peripheral") or ""
    engine_rollback = run_kind == "rollback" and not payload
    if not engine_rollback and not payload:
        raise SettingsError("set payload to the path of a payload archive on the controller "
                            "(-e payload=/path/to/payload.tar.gz, built with honeycomb-build)")
    if engine_rollback and not peripheral:
        raise SettingsError("say what to roll back: rollback_payload=/path/to/previous.tar.gz, or rollback_peripheral "
                            "to undo the newest succeeded upgrade of a peripheral")
    out = {
        "run_kind": run_kind,
        "kind": st.ROLLBACK if engine_rollback else st.UPGRADE,
        "state": "rolled_back" if engine_rollback else "applied",
        "src": (args.get("rollback_src") or None) if engine_rollback else payload,
        "peripheral": peripheral if engine_rollback else None,
        "version": (args.get("rollback_version") or None) if engine_rollback else None,
        "batches": _batches(args.get("rollout_batches")),
        "sanity_gate": _bool(args, "rollout_sanity_gate"),
        "sanity_blocked_group": args.get("sanity_blocked_group") or "sanity_blocked",
        "post_check": _bool(args, "rollout_post_check"),
        "post_check_fail_on": _names(args, "rollout_post_check_fail_on", DEFAULT_POST_CHECK_FAIL_ON),
        "wait_timeout": _positive_int(args, "rollout_wait_timeout"),
        "poll_interval": _positive_int(args, "rollout_poll_interval"),
        "reconnect_timeout": _positive_int(args, "rollout_reconnect_timeout", minimum=0),
        "max_resumes": _positive_int(args, "rollout_max_resumes", minimum=0),
    }
    try:
        out["max_fail_percentage"] = st.parse_percentage(args.get("max_fail_percentage"), "max_fail_percentage",
                                                         st.DEFAULT_MAX_FAIL_PERCENTAGE)
        out["max_unreachable_percentage"] = st.parse_percentage(
            args.get("max_unreachable_percentage"), "max_unreachable_percentage", st.DEFAULT_MAX_UNREACHABLE_PERCENTAGE)
    except ValueError as exc:
        raise SettingsError(str(exc))
    out["payload_label"] = (
        "rollback of %s%s" % (peripheral, (" " + out["version"]) if out["version"] else "")
        if engine_rollback else payload.rstrip("/").rsplit("/", 1)[-1])
    return out


def fact(node_vars, name):
    """A fact of a node (set_fact, an action's ansible_facts) read through ``ansible_facts``, where
    ansible-core keeps it whether or not it also injects facts as top-level variables."""
    facts = node_vars.get("ansible_facts") if hasattr(node_vars, "get") else None
    if hasattr(facts, "get") and facts.get(name) is not None:
        return facts.get(name)
    return node_vars.get(name) if hasattr(node_vars, "get") else None


def _in_group(hostvars_of_node, group):
    return group in (hostvars_of_node.get("group_names") or [])


def node_status(node_vars, conf):
    """(status, reason) of one node of the rollout, from its host variables ``node_vars`` and the
    normalised settings ``conf``.

    * left out by the sanity pre-check (in the blocked group): ``unreachable`` when the pre-check could
      not reach it, else ``sanity_blocked``;
    * no upgrade result: ``not_run`` (the rollout stopped before its batch);
    * the upgrade task's result unreachable: ``unreachable``; else its ``status`` (``failed`` when the
      task failed before the engine gave one);
    * a success whose sanity post-check status is in ``post_check_fail_on``: ``post_check_failed``.
    """
    node_vars = node_vars if isinstance(node_vars, Mapping) else {}
    if conf.get("sanity_gate") and _in_group(node_vars, conf.get("sanity_blocked_group") or "sanity_blocked"):
        pre = fact(node_vars, "sanity_status") or "error"
        error = str(fact(node_vars, "sanity_error") or "").strip()
        reason = "sanity pre-check: %s%s" % (pre, (": " + error) if error else "")
        return (st.UNREACHABLE if pre == "unreachable" else st.SANITY_BLOCKED), reason
    res = node_vars.get(RESULT_VAR)
    if not isinstance(res, Mapping) or res.get("skipped") and not res.get("status"):
        return st.NOT_RUN, "the rollout did not reach this node"
    msg = str(res.get("msg") or "").strip()
    if res.get("unreachable"):
        return st.UNREACHABLE, msg or "unreachable"
    status = res.get("status") or (st.FAILED if res.get("failed") else None)
    if status is None:
        return st.FAILED, "the upgrade task returned no status: %s" % (msg or "no message")
    if status not in st.STATUSES:
        return st.FAILED, "unknown status %r from the upgrade task: %s" % (status, msg)
    if conf.get("post_check") and st.outcome(status, conf.get("kind") or st.UPGRADE) == st.SUCCESS:
        post = fact(node_vars, "sanity_status")
        if post in (conf.get("post_check_fail_on") or []):
            error = str(fact(node_vars, "sanity_error") or "").strip()
            reason = "sanity post-check: %s%s" % (post, (": " + error) if error else "")
            return st.POST_CHECK_FAILED, reason
    return status, msg


def statuses(hostvars, names, conf):
    """{node: status} of the nodes ``names``."""
    return dict((name, node_status(hostvars.get(name) if name in hostvars else {}, conf)[0]) for name in names)
