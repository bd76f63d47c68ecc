# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""waggle.honeycomb.rollout: the steps of playbooks/upgrade.yml and rollback.yml that decide something
(settings, gates, each node's status, the fleet summary), in Python, on the controller.

Every step reads the run's settings from the fact ``honeycomb_rollout_settings`` that the ``settings``
step put on ``localhost``, each node's status from plugins/plugin_utils/_honeycomb/rollout.py
(``node_status``) and what a status means from the status model (module_utils/_honeycomb/status.py).
See plugins/modules/rollout.py for the documentation.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import rollout as ro

display = Display()
SETTINGS_FACT = "honeycomb_rollout_settings"
SUMMARY_STAT = "honeycomb_rollout"
STEPS = ("settings", "pre_gate", "node", "batch_gate", "summary")
SETTING_OPTIONS = ("rollout_kind", "payload", "rollback_src", "rollback_peripheral", "rollback_version", "rollout_batches",
                   "max_fail_percentage", "max_unreachable_percentage", "rollout_sanity_gate", "sanity_blocked_group",
                   "rollout_post_check", "rollout_post_check_fail_on", "rollout_wait_timeout", "rollout_poll_interval",
                   "rollout_reconnect_timeout", "rollout_max_resumes")


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        spec = {"step": {"type": "str", "required": True, "choices": list(STEPS)}}
        for name in SETTING_OPTIONS:
            spec[name] = {"type": "raw"}
        dummy, args = self.validate_argument_spec(argument_spec=spec)
        step = args["step"]
        if step == "settings":
            return self._settings(result, args, task_vars)
        conf = self._conf(task_vars)
        if conf is None:
            result.update(failed=True, msg="no rollout settings: run waggle.honeycomb.rollout step=settings first "
                                           "(run_once, delegate_to localhost, delegate_facts true)")
            return result
        hostvars = task_vars.get("hostvars") or {}
        return getattr(self, "_" + step)(result, conf, hostvars, task_vars)

    @staticmethod
    def _conf(task_vars):
        hostvars = task_vars.get("hostvars") or {}
        local = hostvars["localhost"] if "localhost" in hostvars else {}
        facts = local.get("ansible_facts") if hasattr(local, "get") else None
        conf = facts.get(SETTINGS_FACT) if hasattr(facts, "get") else None
        return dict(conf) if conf else None

    # -- steps ---------------------------------------------------------------------------------------
    def _settings(self, result, args, task_vars):
        given = dict((k, v) for k, v in args.items() if k != "step" and v is not None)
        try:
            conf = ro.settings(given)
        except ro.SettingsError as exc:
            result.update(failed=True, msg="Bad rollout settings: %s (docs/rollout.md lists every setting)." % exc)
            return result
        if conf["src"] and not conf["peripheral"]:
            try:
                conf["src"] = self._find_needle("files", conf["src"])
            except Exception:  # pylint: disable=broad-except  # any lookup error means "not there"
                result.update(failed=True, msg="payload %s does not exist on the controller: pass the path of a "
                                               ".tar.gz built with honeycomb-build." % conf["src"])
                return result
        conf["targets"] = list(task_vars.get("ansible_play_hosts_all") or [])
        run = {"kind": conf["run_kind"], "payload": conf["payload_label"], "batches": conf["batches"],
               "max_fail_percentage": conf["max_fail_percentage"],
               "max_unreachable_percentage": conf["max_unreachable_percentage"], "sanity_gate": conf["sanity_gate"]}
        result.update(changed=False, settings=conf, ansible_facts={SETTINGS_FACT: conf, "fleet_report_run": run})
        return result

    def _pre_gate(self, result, conf, hostvars, task_vars):
        """Stop before anything is upgraded when too many nodes are unreachable at the sanity pre-check."""
        targets = conf["targets"]
        unreachable = [n for n in targets if n in hostvars and ro.fact(hostvars[n], "sanity_status") == "unreachable"]
        gate = st.batch_gate(dict((n, st.UNREACHABLE if n in unreachable else st.OK) for n in targets),
                             max_fail_percentage=conf["max_fail_percentage"],
                             max_unreachable_percentage=conf["max_unreachable_percentage"])
        result.update(changed=False, gate=gate, stop=gate["over_unreachable"], msg="")
        if gate["over_unreachable"]:
            values = (len(unreachable), len(targets), gate["unreachable_pct"], _pct(conf["max_unreachable_percentage"]),
                      ", ".join(unreachable))
            reason = ("rollout not started: %d of %d nodes (%s%%) unreachable at the sanity pre-check, more than "
                      "max_unreachable_percentage %s: %s" % values)
            result.update(msg=reason, ansible_facts={"fleet_report_run": {"stopped": True, "reason": reason}})
        return result

    def _node(self, result, conf, hostvars, task_vars):
        """This node's status: the task fails for a failure, is unreachable for an unreachable node."""
        name = task_vars.get("inventory_hostname")
        status, reason = ro.node_status(hostvars[name] if name in hostvars else {}, conf)
        outcome = st.outcome(status, conf["kind"])
        result.update(changed=False, status=status, outcome=outcome,
                      msg="%s: %s%s" % (name, status, (" - " + reason) if reason else ""),
                      ansible_facts={"fleet_report": {"status": status, "reason": reason}})
        if outcome == st.FAILURE:
            result["failed"] = True
        elif outcome == st.UNREACHABLE:
            result["unreachable"] = True
        return result

    def _batch_gate(self, result, conf, hostvars, task_vars):
        """Whether the rollout stops after this batch; publishes the fleet summary so far for AWX."""
        batch = list(task_vars.get("ansible_play_batch") or [])
        gate = st.batch_gate(ro.statuses(hostvars, batch, conf), max_fail_percentage=conf["max_fail_percentage"],
                             max_unreachable_percentage=conf["max_unreachable_percentage"], kind=conf["kind"])
        summary = self._fleet(conf, hostvars, stopped=gate["stop"], reason=gate["reason"], seen_only=True)
        result.update(changed=False, stop=gate["stop"], gate=gate, summary=summary,
                      ansible_stats={"data": {SUMMARY_STAT: summary}, "per_host": False, "aggregate": False})
        if gate["stop"]:
            result["msg"] = "Rollout stopped, later batches are not started: %s" % gate["reason"]
            result["ansible_facts"] = {"fleet_report_run": {"stopped": True, "reason": gate["reason"]}}
            display.display(result["msg"])
        else:
            result["msg"] = "batch %s: continue (%s)" % (", ".join(batch), summary["line"])
        return result

    def _summary(self, result, conf, hostvars, task_vars):
        """The fleet summary of the run, published with set_stats semantics for AWX and printed."""
        reason = None  # a gate that stopped the rollout left its reason on the nodes of its batch
        for name in conf["targets"]:
            run = ro.fact(hostvars[name] if name in hostvars else {}, "fleet_report_run")
            if isinstance(run, dict) and run.get("stopped"):
                reason = run.get("reason") or "stopped"
                break
        summary = self._fleet(conf, hostvars, stopped=reason is not None, reason=reason or "")
        result.update(changed=False, summary=summary, msg=summary["line"],
                      ansible_stats={"data": {SUMMARY_STAT: summary}, "per_host": False, "aggregate": False})
        display.display(summary["line"])
        return result

    def _fleet(self, conf, hostvars, stopped=False, reason="", seen_only=False):
        targets = conf["targets"]
        nodes = {}
        for name in targets:
            status = ro.node_status(hostvars[name] if name in hostvars else {}, conf)[0]
            if status != st.NOT_RUN:
                nodes[name] = status
        summary = st.fleet_summary(nodes, kind=conf["kind"], targets=targets, stopped=stopped, reason=reason)
        summary["payload"] = conf["payload_label"]
        summary["run_kind"] = conf["run_kind"]
        return summary


def _pct(number):
    return ("%d" % number) if number == int(number) else ("%s" % number)
