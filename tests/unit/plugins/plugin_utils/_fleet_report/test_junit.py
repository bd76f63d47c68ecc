# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JUnit XML of a fleet report (plugins/plugin_utils/_fleet_report/junit.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import junit, model


def test_one_case_per_node_classified_by_outcome():
    run = model.FleetRun(playbook='/x/upgrade_one.yml', now=1000.0)
    run.play_start('Apply', 'u', ['a', 'b', 'c', 'd', 'e'], [], ['a', 'b', 'c', 'd', 'e'], 1000.0)
    for name, status in (('a', 'applied'), ('b', 'lost'), ('c', 'retry_later'), ('d', 'sanity_blocked')):
        run.record(name, 'Upgrade', 'ansible.builtin.set_fact',
                   {'ansible_facts': {'fleet_report': {'status': status}}}, 'ok', 1000.0, 1001.0)
    run.record('e', 'Upgrade', 'waggle.honeycomb.upgrade', {'unreachable': True, 'msg': 'tunnel down'},
               'unreachable', 1000.0, 1001.0)
    run.finish(1002.0)
    suite = ET.fromstring(junit.render_junit(run.to_dict())).find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors'), suite.get('skipped')) == ('5', '1', '1', '2')
    cases = {c.get('name'): c for c in suite.findall('testcase')}
    assert cases['b'].find('failure').get('type') == 'lost'
    assert cases['e'].find('error').text == 'tunnel down'
    assert cases['c'].find('skipped') is not None and cases['d'].find('skipped') is not None
    assert len(cases['a']) == 1 and cases['a'].find('system-out').text == 'status: applied'
    assert cases['a'].get('classname') == 'fleet'  # no batches
