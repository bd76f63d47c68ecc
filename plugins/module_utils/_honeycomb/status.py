# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one status model of a rollout: every status a node can end a run with, and what it means.

A *status* says what happened to a node (``applied``, ``rolled_back``, ``lost`` ...). Its *outcome* says
what that means for the rollout, one of ``success``, ``failure``, ``unreachable``, ``pending`` or
``skipped``, and depends on the rollout *kind*: ``upgrade`` (a payload is applied; also a rollback done
by applying the payload of an older version), or ``rollback`` (the engine undoes a succeeded job without
a payload, ``waggle.honeycomb.upgrade state=rolled_back``; there ``rolled_back`` is the success).

Everything that classifies a node (the engine's results, the fleet_report callback, the playbooks'
batch gate and summary through the ``waggle.honeycomb.rollout_*`` filters, upgrade_info) asks this
module, so a node that did not get where the rollout wanted it is never reported as a success.

Runs on nodes and on the controller: Python 3.6, stdlib only.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

# -- rollout kinds -----------------------------------------------------------------------------------
UPGRADE = "upgrade"
ROLLBACK = "rollback"
KINDS = (UPGRADE, ROLLBACK)

# -- outcomes ------------------------------------------------------------------------------------------
SUCCESS = "success"
FAILURE = "failure"
UNREACHABLE = "unreachable"  # an outcome and a status of the same name and meaning
PENDING = "pending"
SKIPPED = "skipped"
OUTCOMES = (SUCCESS, FAILURE, UNREACHABLE, PENDING, SKIPPED)

# -- statuses: the engine's (a job's status, in its journal and in the upgrade module's result) -------
APPLIED = "applied"
ALREADY_APPLIED = "already_applied"
NEEDED = "needed"
RETRY_LATER = "retry_later"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
ROLLBACK_FAILED = "rollback_failed"
INCONSISTENT = "inconsistent"
RUNNING = "running"
INTERRUPTED = "interrupted"
RECOVERY_SLOT = "recovery_slot"
# -- statuses the rollout gives a node (playbooks, fleet_report callback) ------------------------------
POST_CHECK_FAILED = "post_check_failed"
# UNREACHABLE = "unreachable" (above)
SANITY_BLOCKED = "sanity_blocked"
LOST = "lost"
DEFERRED = "deferred"
NOT_RUN = "not_run"
OK = "ok"

# name: (where it comes from, outcome in an upgrade, outcome in a rollback, what it means)
_MODEL = (
    (APPLIED, "engine", SUCCESS, FAILURE,
     "the payload was installed and verified"),
    (ALREADY_APPLIED, "engine", SUCCESS, FAILURE,
     "the payload's state check found it already applied; nothing ran"),
    (NEEDED, "engine", PENDING, PENDING,
     "check mode: a real run would apply (or roll back); nothing ran"),
    (RETRY_LATER, "engine", PENDING, PENDING,
     "the payload's state check asked to retry later; nothing ran"),
    (FAILED, "engine", FAILURE, FAILURE,
     "the job failed before it changed anything (a failed install or verify is rolled_back), or a task of "
     "the rollout failed on the node"),
    (ROLLED_BACK, "engine", FAILURE, SUCCESS,
     "upgrade: install or verify failed and the change was rolled back; rollback: the job was undone"),
    (ROLLBACK_FAILED, "engine", FAILURE, FAILURE,
     "the rollback failed: the peripheral needs a look by hand"),
    (INCONSISTENT, "engine", FAILURE, FAILURE,
     "the job cannot be resumed or verified; blocks its peripheral until cleared"),
    (RUNNING, "engine", PENDING, PENDING,
     "the job is still running (upgrade_info)"),
    (INTERRUPTED, "engine", FAILURE, FAILURE,
     "the job stopped part-way (signal, full state dir, power cut) and was not resumed; the next run resumes it"),
    (RECOVERY_SLOT, "engine", FAILURE, FAILURE,
     "the node runs from its recovery boot slot (factory-old software, state dir lost): refused, nothing ran "
     "(allow_recovery_slot overrides)"),
    (POST_CHECK_FAILED, "rollout", FAILURE, FAILURE,
     "the job succeeded but the sanity post-check failed on the node"),
    (UNREACHABLE, "rollout", UNREACHABLE, UNREACHABLE,
     "the node could not be reached (before, or during the job and after the reconnect timeout)"),
    (SANITY_BLOCKED, "rollout", SKIPPED, SKIPPED,
     "left out by the sanity pre-check gate; nothing ran"),
    (LOST, "rollout", FAILURE, FAILURE,
     "the node lost the job with its power (or a reboot) more often than it may be resumed"),
    (DEFERRED, "rollout", PENDING, PENDING,
     "outside the node's maintenance window: nothing was installed (the payload may have been staged in its "
     "store); a run inside the window installs it"),
    (NOT_RUN, "rollout", SKIPPED, SKIPPED,
     "targeted, but the rollout never reached it (stopped before its batch, or no result came back)"),
    (OK, "report", SUCCESS, SUCCESS,
     "answered in a run that upgrades nothing (a fleet report of another playbook); never a node of an "
     "upgrade run"),
)

STATUSES = tuple(row[0] for row in _MODEL)
"""Every status, in the order of the documentation table."""
ENGINE_STATUSES = tuple(row[0] for row in _MODEL if row[1] == "engine")
"""Statuses the upgrade engine gives a job (journal, upgrade module result, upgrade_info)."""
ROLLOUT_STATUSES = tuple(row[0] for row in _MODEL if row[1] == "rollout")
"""Statuses the rollout (playbooks, callback) gives a node the engine has no job result for."""
TERMINAL_STATUSES = (APPLIED, ALREADY_APPLIED, RETRY_LATER, FAILED, ROLLED_BACK, ROLLBACK_FAILED, INCONSISTENT)
"""Final job statuses in a journal; RUNNING and INTERRUPTED are the only others a journal holds."""
DESCRIPTIONS = dict((row[0], row[4]) for row in _MODEL)
ORIGINS = dict((row[0], row[1]) for row in _MODEL)
_OUTCOME = dict(((row[0], UPGRADE), row[2]) for row in _MODEL)
_OUTCOME.update(((row[0], ROLLBACK), row[3]) for row in _MODEL)

DEFAULT_MAX_FAIL_PERCENTAGE = 10
DEFAULT_MAX_UNREACHABLE_PERCENTAGE = 20


def check_kind(kind):
    """``kind`` if it is a rollout kind, else ValueError naming the ones there are."""
    if kind not in KINDS:
        raise ValueError("unknown rollout kind %r: use 'upgrade' (a payload is applied) or 'rollback' (the engine "
                         "undoes a succeeded job without a payload)" % (kind,))
    return kind


def outcome(status, kind=UPGRADE):
    """The outcome (success, failure, unreachable, pending or skipped) of ``status`` in a rollout of
    ``kind``; ValueError for a status or kind this model does not know."""
    check_kind(kind)
    try:
        return _OUTCOME[(status, kind)]
    except (KeyError, TypeError):
        raise ValueError("unknown node status %r: a status is one of %s (waggle.honeycomb status model, "
                         "docs/rollout.md 'Statuses and outcomes')" % (status, ", ".join(STATUSES)))


def statuses_with(wanted, kind=UPGRADE):
    """The statuses whose outcome in a rollout of ``kind`` is ``wanted`` (an outcome), in table order."""
    if wanted not in OUTCOMES:
        raise ValueError("unknown outcome %r: an outcome is one of %s" % (wanted, ", ".join(OUTCOMES)))
    return tuple(s for s in STATUSES if outcome(s, kind) == wanted)


def parse_percentage(value, name, default):
    """A threshold as Ansible reads a play's ``max_fail_percentage`` (a number, optionally with ``%``)
    as a float from 0 to 100; ``default`` for None or ''."""
    if value is None or (isinstance(value, str) and not value.strip()):
        value = default
    if isinstance(value, bool):
        raise ValueError("%s must be a number from 0 to 100, got %r" % (name, value))
    try:
        number = float(value.replace("%", "") if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number from 0 to 100 (a percentage of the batch), got %r" % (name, value))
    if not 0 <= number <= 100:  # also refuses NaN
        raise ValueError("%s must be a number from 0 to 100 (a percentage of the batch), got %r" % (name, value))
    return number


def _outcome_of_entry(entry, kind):
    """Outcome of one batch entry: a status, an outcome name, or None (no status: counted as a failure)."""
    if entry is None:
        return FAILURE
    if entry in OUTCOMES:
        return entry
    return outcome(entry, kind)


def _pct(count, total):
    return round(100.0 * count / total, 1) if total else 0.0


def _fmt_pct(number):
    return ("%d" % number) if number == int(number) else ("%s" % number)


def batch_gate(batch, max_fail_percentage=DEFAULT_MAX_FAIL_PERCENTAGE,
               max_unreachable_percentage=DEFAULT_MAX_UNREACHABLE_PERCENTAGE, kind=UPGRADE):
    """Whether the rollout stops after this batch.

    ``batch``: the batch's nodes as a mapping node name -> status (or outcome), or a list of statuses or
    outcomes; a node with no status (None) counts as a failure. The rule is Ansible's own for a play's
    ``max_fail_percentage`` (``ansible.plugins.strategy.linear``: failed nodes / batch size >
    percentage / 100.0, no rounding, strictly more), the same rule for unreachable nodes and
    ``max_unreachable_percentage``, and Ansible's end of a serial play whose whole batch failed or was
    unreachable (``PlaybookExecutor``).

    Returns a dict: ``stop``, ``size``, ``failed``/``unreachable`` (counts), ``failed_nodes``/
    ``unreachable_nodes`` (names, when a mapping was given), ``failed_pct``/``unreachable_pct`` (rounded to
    0.1, for messages only), ``over_fail``, ``over_unreachable``, ``all_failed`` and ``reason`` (a sentence
    when it stops, else '').
    """
    check_kind(kind)
    max_fail = parse_percentage(max_fail_percentage, "max_fail_percentage", DEFAULT_MAX_FAIL_PERCENTAGE)
    max_unreach = parse_percentage(max_unreachable_percentage, "max_unreachable_percentage",
                                   DEFAULT_MAX_UNREACHABLE_PERCENTAGE)
    if isinstance(batch, dict):
        items = list(batch.items())
    elif isinstance(batch, (list, tuple)):
        items = [(None, entry) for entry in batch]
    else:
        raise ValueError("the batch must be a mapping node -> status or a list of statuses, got %s"
                         % type(batch).__name__)
    failed, unreachable = [], []
    for name, entry in items:
        oc = _outcome_of_entry(entry, kind)
        if oc == FAILURE:
            failed.append(name)
        elif oc == UNREACHABLE:
            unreachable.append(name)
    size = len(items)
    over_fail = size > 0 and (len(failed) / size) > (max_fail / 100.0)
    over_unreachable = size > 0 and (len(unreachable) / size) > (max_unreach / 100.0)
    all_failed = size > 0 and len(failed) + len(unreachable) == size
    named = isinstance(batch, dict)
    result = {
        "stop": bool(over_fail or over_unreachable or all_failed), "size": size,
        "failed": len(failed), "unreachable": len(unreachable),
        "failed_nodes": [str(n) for n in failed] if named else [],
        "unreachable_nodes": [str(n) for n in unreachable] if named else [],
        "failed_pct": _pct(len(failed), size), "unreachable_pct": _pct(len(unreachable), size),
        "over_fail": bool(over_fail), "over_unreachable": bool(over_unreachable), "all_failed": bool(all_failed),
        "max_fail_percentage": max_fail, "max_unreachable_percentage": max_unreach,
    }
    reasons = []
    if over_unreachable:
        reasons.append("%d of %d nodes of the batch (%s%%) unreachable, more than max_unreachable_percentage %s%s"
                       % (len(unreachable), size, result["unreachable_pct"], _fmt_pct(max_unreach),
                          (": " + ", ".join(result["unreachable_nodes"])) if named else ""))
    if over_fail:
        reasons.append("%d of %d nodes of the batch (%s%%) failed, more than max_fail_percentage %s%s"
                       % (len(failed), size, result["failed_pct"], _fmt_pct(max_fail),
                          (": " + ", ".join(result["failed_nodes"])) if named else ""))
    if all_failed and not reasons:
        reasons.append("no node of the batch succeeded (%d failed, %d unreachable): Ansible ends a serial play "
                       "whose whole batch failed" % (len(failed), len(unreachable)))
    result["reason"] = "; ".join(reasons)
    return result


def fleet_summary(statuses_by_host, kind=UPGRADE, targets=None, stopped=False, reason=None):
    """The fleet's result from each node's status.

    ``statuses_by_host``: node name -> status (None: no status). ``targets``: the nodes the rollout
    targeted; one without a status counts as ``not_run``. ``stopped``: the rollout stopped before its
    last batch (``reason`` says why).

    ``success`` is false when a node's outcome is failure or unreachable, when a targeted node never got
    a status (``not_run``), or when the rollout stopped. Returns a dict: ``kind``, ``total``, ``nodes``
    (name -> status), ``by_status``, ``by_outcome`` (every outcome, 0 included), ``failed_nodes``,
    ``unreachable_nodes``, ``pending_nodes``, ``skipped_nodes``, ``not_run_nodes``, ``success``,
    ``result`` (``success``, ``failed`` or ``stopped``), ``stopped``, ``reason`` and ``line``, the one
    human line (``fleet FAILED: 3 nodes, applied 2, lost 1; failed: n3``).
    """
    check_kind(kind)
    if not isinstance(statuses_by_host, dict):
        raise ValueError("the fleet's statuses must be a mapping node -> status, got %s"
                         % type(statuses_by_host).__name__)
    nodes = {}  # in the order given (targets without a status last)
    for name in list(statuses_by_host) + [t for t in (targets or []) if t not in statuses_by_host]:
        status = statuses_by_host.get(name)
        nodes[str(name)] = NOT_RUN if status is None or status == "" else status
    outcomes = dict((name, outcome(status, kind)) for name, status in nodes.items())
    by_status, by_outcome = {}, dict((oc, 0) for oc in OUTCOMES)
    for name in nodes:
        by_status[nodes[name]] = by_status.get(nodes[name], 0) + 1
        by_outcome[outcomes[name]] += 1

    def named(oc):
        return [n for n in nodes if outcomes[n] == oc]

    not_run = [n for n in nodes if nodes[n] == NOT_RUN]
    stopped = bool(stopped)
    success = not (by_outcome[FAILURE] or by_outcome[UNREACHABLE] or not_run or stopped)
    result = "success" if success else ("stopped" if stopped else "failed")
    summary = {
        "kind": kind, "total": len(nodes), "nodes": nodes, "by_status": by_status, "by_outcome": by_outcome,
        "failed_nodes": named(FAILURE), "unreachable_nodes": named(UNREACHABLE), "pending_nodes": named(PENDING),
        "skipped_nodes": named(SKIPPED), "not_run_nodes": not_run, "success": success, "result": result,
        "stopped": stopped, "reason": reason or "",
    }
    summary["line"] = summary_line(summary)
    return summary


def _names(names, limit=20):
    shown = ", ".join(names[:limit])
    return shown + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def summary_line(summary):
    """The one human line of a :func:`fleet_summary` result."""
    counts = ", ".join("%s %d" % (s, summary["by_status"][s])
                       for s in sorted(summary["by_status"], key=lambda s: (STATUSES.index(s), s)))
    kind = "" if summary["kind"] == UPGRADE else " " + summary["kind"]
    plural = "" if summary["total"] == 1 else "s"
    line = "fleet%s %s: %d node%s" % (kind, summary["result"].upper(), summary["total"], plural)
    if counts:
        line += ", " + counts
    for key, label in (("failed_nodes", "failed"), ("unreachable_nodes", "unreachable"),
                       ("not_run_nodes", "not run")):
        if summary[key]:
            line += "; %s: %s" % (label, _names(summary[key]))
    if summary.get("reason"):
        line += "; " + summary["reason"]
    return line


def markdown_table():
    """The table of docs/rollout.md 'Statuses and outcomes' (a unit test keeps the two equal)."""
    rows = ["| status | from | upgrade | rollback | meaning |", "|---|---|---|---|---|"]
    for name, origin, up, back, text in _MODEL:
        rows.append("| `%s` | %s | %s | %s | %s |" % (name, origin, up, back, text))
    return "\n".join(rows)
