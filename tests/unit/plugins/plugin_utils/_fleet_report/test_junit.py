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


def test_traffic_is_a_property_of_the_node_and_of_the_suite():
    run = model.FleetRun(playbook='/x/upgrade.yml', now=1000.0)
    run.play_start('Roll out', 'u', ['a', 'b'], ['100%'], ['a', 'b'], 1000.0)
    traffic = {'sent': 5000, 'received': 200, 'execs': 3, 'wire_estimate': {'sent': 4000, 'received': 900}}
    run.record('a', 'up', 'waggle.honeycomb.upgrade', {'status': 'applied', 'phases': {}, 'traffic': traffic},
               'ok', 1000.0, 1001.0)
    run.record('b', 'up', 'waggle.honeycomb.upgrade', {'status': 'applied', 'phases': {}}, 'ok', 1000.0, 1001.0)
    run.finish(1002.0)
    suite = ET.fromstring(junit.render_junit(run.to_dict()).split('?>', 1)[1]).find('testsuite')
    props = {p.get('name'): p.get('value') for p in suite.find('properties')}
    assert props['traffic_sent'] == '5000' and props['traffic_wire_sent'] == '4000'
    assert props['traffic_received'] == '200' and props['traffic_wire_received'] == '900'
    cases = {c.get('name'): c for c in suite.iter('testcase')}
    case_props = {p.get('name'): p.get('value') for p in cases['a'].find('properties')}
    assert case_props == {'traffic_sent': '5000', 'traffic_received': '200', 'traffic_wire_sent': '4000',
                          'traffic_wire_received': '900'}
    assert 'traffic: sent 5000 B, received 200 B (link estimate: 4000 B to the node, 900 B from it)' \
        in cases['a'].find('system-out').text
    assert cases['b'].find('properties') is None
