# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML page of a fleet report (plugins/plugin_utils/_fleet_report/html.py)."""

from __future__ import annotations

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._fleet_report import html, model


def test_every_status_has_a_colour_of_its_outcome_family():
    for status in st.STATUSES:
        for kind in st.KINDS:
            outcome = st.outcome(status, kind)
            color = html.status_color(status, outcome)
            assert color.startswith('#') and len(color) == 7
            if status not in html.STATUS_SHADES:
                assert color == html.OUTCOME_COLORS[outcome]
    # rolled_back: orange as a failed upgrade, green as a done rollback
    assert html.status_color('rolled_back', 'failure') != html.status_color('rolled_back', 'success')
    assert html.status_color('rolled_back', 'success') == html.OUTCOME_COLORS['success']


@pytest.mark.parametrize('nodes, batches, text', [(1, 0, '1 node'), (8, 0, '8 nodes'), (8, 1, '8 nodes in 1 batch'),
                                                  (8, 3, '8 nodes in 3 batches')])
def test_nodes_and_batches_text(nodes, batches, text):
    assert html._nodes_text(nodes, batches) == text


def test_page_lists_problem_nodes_and_the_summary_line():
    run = model.FleetRun(playbook='/x/upgrade.yml', now=1000.0)
    run.play_start('Roll out', 'u', ['a', 'b', 'c'], [], ['a', 'b', 'c'], 1000.0)
    for name, status in (('a', 'applied'), ('b', 'retry_later'), ('c', 'post_check_failed')):
        run.record(name, 'x', 'ansible.builtin.set_fact', {'ansible_facts': {'fleet_report': {'status': status}}},
                   'ok', 1000.0, 1001.0)
    run.finish(1002.0)
    page = html.render_html(run.to_dict())
    assert '<p class="list" id="failed_nodes"><strong>Failed (1):</strong> c</p>' in page
    assert '<p class="list" id="pending_nodes"><strong>Pending (1):</strong> b</p>' in page
    assert 'id="line">fleet FAILED: 3 nodes, applied 1, retry_later 1, post_check_failed 1; failed: c</p>' in page


def _run_with_traffic():
    run = model.FleetRun(playbook='/x/upgrade.yml', now=1000.0)
    run.play_start('Roll out', 'u', ['a', 'b'], ['100%'], ['a', 'b'], 1000.0)
    traffic = {'sent': 4300000, 'received': 2500, 'execs': 9, 'files': 0, 'failed_execs': 0,
               'by_category': {'payload': {'sent': 4197000, 'received': 0}},
               'wire_estimate': {'sent': 4250000, 'received': 17000, 'compression': True}}
    run.record('a', 'up', 'waggle.honeycomb.upgrade', {'status': 'applied', 'phases': {}, 'traffic': traffic},
               'ok', 1000.0, 1001.0)
    run.record('b', 'up', 'waggle.honeycomb.upgrade', {'status': 'applied', 'phases': {}}, 'ok', 1000.0, 1001.0)
    run.finish(1002.0)
    return run.to_dict()


def test_node_table_has_the_link_bytes_and_the_page_the_fleet_total():
    page = html.render_html(_run_with_traffic())
    assert '<th>link bytes (to / from node)</th>' in page
    row_a = page[page.index('<tr data-node="a">'):]
    row_a = row_a[:row_a.index('</tr>')]
    assert '4.2 MB &darr; 17.0 kB &uarr;' in row_a
    assert 'handed to the connection: sent 4300000 B, received 2500 B in 9 execs; payload 4197000 / 0' in row_a
    row_b = page[page.index('<tr data-node="b">'):]
    assert '<td class="bytes"></td>' in row_b[:row_b.index('</tr>')]
    assert 'id="traffic">link bytes (estimated): 4.2 MB to the nodes, 17.0 kB from them, 1 node</p>' in page


@pytest.mark.parametrize('n, text', [(None, ''), (0, '0 B'), (999, '999 B'), (1000, '1.0 kB'),
                                     (4250000, '4.2 MB'), (3 * 10 ** 12, '3000.0 GB')])
def test_bytes_in_decimal_units(n, text):
    assert html.fmt_bytes(n) == text
