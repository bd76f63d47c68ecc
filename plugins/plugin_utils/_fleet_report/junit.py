# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JUnit XML of a fleet report (model.FleetRun.to_dict): one test case per node, classified by its outcome
in the status model (failure: <failure>, unreachable: <error>, pending and skipped: <skipped>)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st


def render_junit(report):
    """The JUnit XML text of ``report``."""
    nodes = report['nodes']
    counts = report['summary']['by_outcome']
    suite_name = 'waggle.honeycomb %s %s' % (report['kind'], os.path.basename(report['playbook'] or ''))
    suites = ET.Element('testsuites', name=suite_name.strip())
    suite = ET.SubElement(suites, 'testsuite', {
        'name': suite_name.strip(), 'tests': str(len(nodes)),
        'failures': str(counts[st.FAILURE]), 'errors': str(counts[st.UNREACHABLE]),
        'skipped': str(counts[st.SKIPPED] + counts[st.PENDING]),
        'time': '%.3f' % (report['duration'] or 0), 'timestamp': report['started'] or '',
    })
    props = ET.SubElement(suite, 'properties')
    for key in ('result', 'reason', 'kind'):
        ET.SubElement(props, 'property', name=key, value=str(report.get(key) or ''))
    if report['payload']:
        ET.SubElement(props, 'property', name='payload', value=json.dumps(report['payload'], sort_keys=True))
    fleet_bytes = report.get('traffic') or {}
    if fleet_bytes.get('nodes'):
        for key in ('sent', 'received', 'wire_sent', 'wire_received'):
            ET.SubElement(props, 'property', name='traffic_' + key, value=str(fleet_bytes[key]))
    for n in nodes:
        classname = 'batch%s' % n['batch'] if n['batch'] else 'fleet'
        case = ET.SubElement(suite, 'testcase', {
            'classname': classname, 'name': n['name'], 'time': '%.3f' % (n['duration'] or 0)})
        traffic = n.get('traffic')
        if isinstance(traffic, dict):  # as pytest's record_property writes them
            wire = traffic.get('wire_estimate') or {}
            case_props = ET.SubElement(case, 'properties')
            for key, value in (('traffic_sent', traffic.get('sent')), ('traffic_received', traffic.get('received')),
                               ('traffic_wire_sent', wire.get('sent')), ('traffic_wire_received', wire.get('received'))):
                ET.SubElement(case_props, 'property', name=key, value=str(value))
        text = '%s: %s' % (n['name'], n['status'])
        if n['msg']:
            text += ' - ' + n['msg']
        if n['outcome'] == st.FAILURE:
            f = ET.SubElement(case, 'failure', message=text, type=n['status'])
            f.text = text + (('\nfailed task: ' + n['failed_task']) if n['failed_task'] else '')
        elif n['outcome'] == st.UNREACHABLE:
            e = ET.SubElement(case, 'error', message='%s unreachable: %s' % (n['name'], n['unreachable_msg'] or ''),
                              type='unreachable')
            e.text = n['unreachable_msg'] or 'unreachable'
        elif n['outcome'] in (st.SKIPPED, st.PENDING):
            ET.SubElement(case, 'skipped', message=text)
        lines = ['status: %s' % n['status']]
        for p in n['phases']:
            lines.append('phase %s: %.1fs rc=%s attempts=%s' % (p['name'], p['duration'], p.get('rc'), p.get('attempts')))
        if n['installed_version']:
            lines.append('installed_version: %s' % n['installed_version'])
        traffic = n.get('traffic')
        if isinstance(traffic, dict):
            wire = traffic.get('wire_estimate') or {}
            lines.append('traffic: sent %s B, received %s B (link estimate: %s B to the node, %s B from it)'
                         % (traffic.get('sent'), traffic.get('received'), wire.get('sent'), wire.get('received')))
        out = ET.SubElement(case, 'system-out')
        out.text = '\n'.join(lines)
    ET.indent(suites)
    return ET.tostring(suites, encoding='unicode', xml_declaration=True) + '\n'
