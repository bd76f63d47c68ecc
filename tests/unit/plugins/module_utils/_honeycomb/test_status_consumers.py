# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything that classifies a node agrees with the status model, and the model knows every status the
engine can produce.

- Every status of plugins/module_utils/_honeycomb/status.py, in both rollout kinds, gets the same outcome
  from the model, the rollout_outcome filter, the batch gate, the fleet summary, the fleet_report callback's
  model (as an engine result and as a playbook's annotation) and its JUnit.
- A source scan of the node-side upgrade code finds every status literal it can give a job and requires it
  in the model (a new engine status without an outcome fails here, not in a field rollout).
"""

import ast
import glob
import os
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.waggle.honeycomb.plugins.filter.rollout import rollout_gate, rollout_outcome, rollout_summary
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import html as report_html
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import junit as report_junit
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import model

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
EVERY = [(s, k) for s in st.STATUSES for k in st.KINDS]


def _callback_report(status, kind, as_engine_result):
    run = model.FleetRun(playbook='upgrade.yml', now=1000.0)
    run.play_start('Roll out', 'uuid-1', ['n1'], [1], ['n1'], 1000.0)
    run.record('n1', 'Describe the run', 'ansible.builtin.set_fact',
               {'ansible_facts': {'fleet_report_run': {'kind': kind}}}, 'ok', 1000.0, 1000.5)
    if as_engine_result:
        result = {'status': status, 'kind': kind, 'phases': {}, 'failed': st.outcome(status, kind) != st.SUCCESS}
        run.record('n1', 'Upgrade', 'waggle.honeycomb.upgrade', result, 'ok', 1001.0, 1002.0)
    else:
        # the engine's result (its kind is the rollout's), then the playbook's verdict on the node
        run.record('n1', 'Upgrade', 'waggle.honeycomb.upgrade', {'status': st.FAILED, 'kind': kind, 'phases': {}},
                   'ok', 1001.0, 1002.0)
        run.record('n1', 'Annotate', 'ansible.builtin.set_fact',
                   {'ansible_facts': {'fleet_report': {'status': status}}}, 'ok', 1002.0, 1002.5)
    run.finish(1003.0)
    return run.to_dict()


@pytest.mark.parametrize('status, kind', EVERY)
def test_every_consumer_classifies_every_status_alike(status, kind):
    expected = st.outcome(status, kind)
    assert rollout_outcome(status, kind) == expected
    gate = st.batch_gate({'n1': status}, 100, 100, kind)
    assert (gate['failed'], gate['unreachable']) == (expected == st.FAILURE, expected == st.UNREACHABLE)
    assert rollout_gate({'n1': status}, 100, 100, kind) == gate
    summary = st.fleet_summary({'n1': status}, kind)
    assert summary['by_outcome'][expected] == 1 and sum(summary['by_outcome'].values()) == 1
    assert summary['success'] == (expected not in (st.FAILURE, st.UNREACHABLE) and status != st.NOT_RUN)
    assert rollout_summary({'n1': status}, kind) == summary
    engine = status in st.ENGINE_STATUSES
    for as_engine_result in ((True, False) if engine else (False,)):
        if status == st.OK:
            continue  # "ok" is only for runs without upgrade activity (see below)
        report = _callback_report(status, kind, as_engine_result)
        node = report['nodes'][0]
        assert (node['status'], node['outcome']) == (status, expected), as_engine_result
        assert report['summary']['by_outcome'] == summary['by_outcome']
        assert report['result'] == summary['result'] or (report['stopped'] and report['result'] == 'stopped')
        case = ET.fromstring(report_junit.render_junit(report)).find('testsuite/testcase')
        tags = {c.tag for c in case}
        assert ('failure' in tags, 'error' in tags, 'skipped' in tags) == (
            expected == st.FAILURE, expected == st.UNREACHABLE, expected in (st.PENDING, st.SKIPPED))
        assert report_html.status_color(status, expected).startswith('#')


def test_ok_is_a_success_only_in_a_run_without_upgrades():
    run = model.FleetRun(now=1000.0)
    run.play_start('Check', 'u', ['n1'], [], ['n1'], 1000.0)
    run.record('n1', 'Ping', 'ansible.builtin.ping', {'ping': 'pong'}, 'ok', 1000.0, 1001.0)
    assert run.to_dict()['nodes'][0]['status'] == st.OK
    run.record('n2', 'Upgrade', 'waggle.honeycomb.upgrade', {'status': 'applied', 'phases': {}}, 'ok', 1001.0, 1002.0)
    nodes = dict((n['name'], n) for n in run.to_dict()['nodes'])
    # n1 answered but got no upgrade result in a run that upgrades: it did not upgrade
    assert (nodes['n1']['status'], nodes['n1']['outcome']) == (st.NOT_RUN, st.SKIPPED)


# -- every status the engine can produce is in the model --------------------------------------------------
_NAME = re.compile(r'(status|terminal)', re.I)


def _strings(node):
    """String constants of an expression, leaving out keys (``d.get("status")``, ``d["status"]``)."""
    out = set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        out.add(node.value)
    elif isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr == 'get':
            for arg in node.args[1:]:
                out |= _strings(arg)
        else:
            for arg in list(node.args) + [kw.value for kw in node.keywords]:
                out |= _strings(arg)
            out |= _strings(node.func)
    elif isinstance(node, ast.Subscript):
        out |= _strings(node.value)
    else:
        for child in ast.iter_child_nodes(node):
            out |= _strings(child)
    return out


def engine_status_literals(path):
    """{status literal: line} a node-side file can give a job or compare a status with: ``x.finish("s", ...)``,
    ``status="s"`` keywords, ``{"status": "s"}``, ``x["status"] = "s"``, assignments to and comparisons of
    names containing "status" or "terminal"."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = {}

    def add(values, node):
        for value in values:
            found.setdefault(value, node.lineno)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == 'finish' and node.args:
                add(_strings(node.args[0]), node)
            for kw in node.keywords:
                if kw.arg == 'status':
                    add(_strings(kw.value), node)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'status':
                    add(_strings(value), node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and _NAME.search(target.id):
                    add(_strings(node.value), node)
                elif isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant) \
                        and target.slice.value == 'status':
                    add(_strings(node.value), node)
        elif isinstance(node, ast.Compare):
            left = node.left
            name = left.attr if isinstance(left, ast.Attribute) else getattr(left, 'id', '')
            if _NAME.search(name):
                for comparator in node.comparators:
                    add(_strings(comparator), node)
    return found


def _engine_sources():
    files = sorted(glob.glob(os.path.join(REPO, 'plugins', 'module_utils', '_honeycomb', '**', '*.py'), recursive=True))
    files = [f for f in files if os.path.basename(f) != 'status.py']
    files += [os.path.join(REPO, 'plugins', 'action', 'upgrade.py')]
    files += sorted(glob.glob(os.path.join(REPO, 'plugins', 'modules', 'upgrade*.py')))
    return files


def test_the_scan_finds_the_engine_statuses():
    """Not vacuous: the scan sees the statuses the engine is known to produce."""
    found = set()
    for path in _engine_sources():
        found |= set(engine_status_literals(path))
    assert set(st.ENGINE_STATUSES) <= found


def test_every_status_the_engine_can_produce_is_in_the_model():
    unknown = []
    for path in _engine_sources():
        for literal, line in sorted(engine_status_literals(path).items()):
            if literal not in st.ENGINE_STATUSES:
                unknown.append('%s:%d: %r' % (os.path.relpath(path, REPO), line, literal))
    assert not unknown, ('status literals in the node-side upgrade code that the status model does not classify '
                         '(add them to plugins/module_utils/_honeycomb/status.py): %s' % ', '.join(unknown))


def test_the_scan_catches_a_new_status(tmp_path):
    src = tmp_path / 'engine.py'
    src.write_text('def run(job, d):\n    job.finish("half_done", "msg")\n    d["status"] = "paused"\n'
                   '    raise Failure("x", status="exploded")\n    return {"status": "weird"}\n')
    assert set(engine_status_literals(str(src))) == {'half_done', 'paused', 'exploded', 'weird'}
