# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML page of a fleet report (model.FleetRun.to_dict): summary cards, a status bar and a per-node
phase timeline drawn as inline SVG; self-contained (no scripts, no external resources)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import html
import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st

# a node is drawn in the colour of its outcome, or in the shade of its status when the status has the
# outcome the shade is meant for (rolled_back is orange as a failed upgrade, green as a done rollback)
OUTCOME_COLORS = {
    st.SUCCESS: '#2e9d4a', st.FAILURE: '#d64541', st.UNREACHABLE: '#6b4ea0', st.PENDING: '#e0a526',
    st.SKIPPED: '#c9ccd1',
}
STATUS_SHADES = {
    st.ALREADY_APPLIED: (st.SUCCESS, '#7cc08b'), st.OK: (st.SUCCESS, '#7cc08b'),
    st.ROLLED_BACK: (st.FAILURE, '#e07a3f'), st.ROLLBACK_FAILED: (st.FAILURE, '#8e1b17'),
    st.INCONSISTENT: (st.FAILURE, '#8e1b17'), st.LOST: (st.FAILURE, '#a3322a'),
    st.INTERRUPTED: (st.FAILURE, '#a3322a'), st.POST_CHECK_FAILED: (st.FAILURE, '#c0504d'),
    st.RUNNING: (st.PENDING, '#4a90d9'), st.SANITY_BLOCKED: (st.SKIPPED, '#8a8f98'),
}
PHASE_COLORS = {
    'transfer': '#9bb7d4', 'state_check': '#4a90d9', 'install': '#f0a02c',
    'verify': '#38a169', 'rollback': '#d64541',
}
TASK_COLOR = '#d5d9de'
UPGRADE_SPAN_COLOR = '#dbe7f5'


def status_color(status, outcome):
    """The colour a node of this status and outcome is drawn in."""
    shade = STATUS_SHADES.get(status)
    if shade and shade[0] == outcome:
        return shade[1]
    return OUTCOME_COLORS.get(outcome, '#555')


def _status_color_in(report, status):
    try:
        return status_color(status, st.outcome(status, report['summary']['kind']))
    except ValueError:
        return '#555'


def _nodes_text(nodes, batches):
    text = '%d node%s' % (nodes, '' if nodes == 1 else 's')
    if batches:
        text += ' in %d batch%s' % (batches, '' if batches == 1 else 'es')
    return text


def _e(value):
    return html.escape('' if value is None else str(value), quote=True)


def fmt_seconds(seconds):
    if seconds is None:
        return ''
    seconds = float(seconds)
    if seconds < 60:
        return '%.1f s' % seconds
    if seconds < 3600:
        return '%d min %02d s' % (seconds // 60, seconds % 60)
    return '%d h %02d min' % (seconds // 3600, (seconds % 3600) // 60)


def fmt_bytes(n):
    """1234567 -> '1.2 MB' (decimal units, as carriers bill)."""
    if n is None:
        return ''
    n = float(n)
    for unit in ('B', 'kB', 'MB', 'GB'):
        if n < 1000 or unit == 'GB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1000.0
    return ''


def _traffic_cell(traffic):
    """The node table's bytes cell: estimated link bytes to / from the node, the exact counts as a tooltip."""
    if not isinstance(traffic, dict):
        return ''
    wire = traffic.get('wire_estimate') or {}
    tip = 'handed to the connection: sent %d B, received %d B in %d execs' % (
        traffic.get('sent') or 0, traffic.get('received') or 0, traffic.get('execs') or 0)
    for cat, counts in sorted((traffic.get('by_category') or {}).items()):
        tip += '; %s %d / %d' % (cat, counts.get('sent') or 0, counts.get('received') or 0)
    return '<span title="%s">%s &darr; %s &uarr;</span>' % (
        _e(tip), _e(fmt_bytes(wire.get('sent', traffic.get('sent')))),
        _e(fmt_bytes(wire.get('received', traffic.get('received')))))


def render_html(report):
    """A self-contained page: summary cards, a status bar, and a per-node SVG timeline."""
    total = report['summary']['total'] or 1
    span = max(report['duration'] or 0, 0.001)
    nodes = report['nodes']
    title = 'Fleet %s report - %s' % (report['kind'], report['result'].upper())
    parts = []
    parts.append('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                 '<meta name="viewport" content="width=device-width, initial-scale=1">'
                 '<title>%s</title><style>%s</style></head><body>' % (_e(title), _CSS))
    badge = {'success': 'ok', 'failed': 'bad', 'stopped': 'bad'}.get(report['result'], 'warn')
    payload = report['payload'] or {}
    payload_text = ' '.join(str(payload.get(k)) for k in ('peripheral', 'name', 'version') if payload.get(k)) \
        if isinstance(payload, dict) else str(payload)
    parts.append('<header><h1>Fleet %s <span class="badge %s" id="result">%s</span></h1>'
                 '<p class="meta">%s &middot; %s &middot; started %s &middot; took %s &middot; %s</p>'
                 '<p class="line" id="line">%s</p></header>'
                 % (_e(report['kind']), badge, _e(report['result'].upper()),
                    _e(os.path.basename(report['playbook'] or '')), _e(payload_text or 'no payload'),
                    _e(report['started']), _e(fmt_seconds(report['duration'])),
                    _e(_nodes_text(len(nodes), len(report['batches']))), _e(report['summary']['line'])))
    fleet_bytes = report.get('traffic') or {}
    if fleet_bytes.get('nodes'):
        parts.append('<p class="meta" id="traffic">link bytes (estimated): %s to the nodes, %s from them, '
                     '%d node%s</p>' % (_e(fmt_bytes(fleet_bytes['wire_sent'])), _e(fmt_bytes(fleet_bytes['wire_received'])),
                                        fleet_bytes['nodes'], '' if fleet_bytes['nodes'] == 1 else 's'))
    if report['stopped'] or report['reason']:
        parts.append('<div class="alert" id="reason"><strong>Rollout stopped.</strong> %s</div>' % _e(report['reason']))
    # summary cards
    parts.append('<section class="cards" id="summary">')
    for status in sorted(report['summary']['by_status'], key=lambda s: -report['summary']['by_status'][s]):
        count = report['summary']['by_status'][status]
        parts.append('<div class="card" data-status="%s"><div class="num" style="color:%s">%d</div>'
                     '<div class="lbl">%s</div></div>'
                     % (_e(status), _status_color_in(report, status), count, _e(status.replace('_', ' '))))
    parts.append('</section>')
    # stacked fleet bar
    parts.append('<div class="stack" id="fleetbar" title="fleet status">')
    for status, count in sorted(report['summary']['by_status'].items(), key=lambda kv: -kv[1]):
        parts.append('<div style="width:%.3f%%;background:%s" title="%s: %d"></div>'
                     % (100.0 * count / total, _status_color_in(report, status), _e(status), count))
    parts.append('</div>')
    # lists of problem nodes
    for key, label in (('failed_nodes', 'Failed'), ('unreachable_nodes', 'Unreachable'),
                       ('not_run_nodes', 'Not run'), ('pending_nodes', 'Pending')):
        names = report['summary'][key]
        if names:
            parts.append('<p class="list" id="%s"><strong>%s (%d):</strong> %s</p>'
                         % (key, label, len(names), ', '.join(_e(x) for x in names)))
    parts.append(_svg_timeline(report, span))
    parts.append(_node_table(report))
    parts.append('<footer>waggle.honeycomb fleet_report &middot; %s</footer></body></html>\n'
                 % _e(report['schema']))
    return ''.join(parts)


def _svg_timeline(report, span):
    nodes = report['nodes']
    label_w, status_w, chart_w, row_h, top = 170, 130, 760, 22, 34
    width = label_w + chart_w + status_w
    batches = report['batches']
    height = top + row_h * max(len(nodes), 1) + 28
    scale = chart_w / span

    def x(t):
        return label_w + max(0.0, min(t, span)) * scale

    out = ['<section><h2>Timeline</h2><div class="legend">']
    for name, color in PHASE_COLORS.items():
        out.append('<span><i style="background:%s"></i>%s</span>' % (color, _e(name.replace('_', ' '))))
    out.append('<span><i style="background:%s;border:1px solid #9bb7d4"></i>upgrade job</span>' % UPGRADE_SPAN_COLOR)
    out.append('<span><i style="background:%s"></i>other tasks</span>' % TASK_COLOR)
    out.append('<span><i class="x">&#x2716;</i>unreachable</span></div>')
    out.append('<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
               'viewBox="0 0 %d %d" role="img" aria-label="per-node phase timeline">' % (width, height, width, height))
    # batch bands and axis
    for b in batches:
        bx = x(b['offset'])
        bw = max(x(b['offset'] + b['duration']) - bx, 1)
        out.append('<rect class="batch" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>'
                   % (bx, top - 4, bw, height - top - 20, '#f4f6f9' if b['index'] % 2 else '#eef1f5'))
        out.append('<text x="%.1f" y="%d" class="axis">batch %d/%d</text>' % (bx + 2, top - 8, b['index'], b['total']))
    ticks = 6
    for i in range(ticks + 1):
        t = span * i / ticks
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#d5d9de" stroke-width="0.5"/>'
                   % (x(t), x(t), top - 4, height - 22))
        out.append('<text x="%.1f" y="%d" class="axis" text-anchor="middle">%s</text>'
                   % (x(t), height - 8, _e(fmt_seconds(t))))
    for i, n in enumerate(nodes):
        y = top + i * row_h
        out.append('<g class="node-row" data-node="%s" data-status="%s">' % (_e(n['name']), _e(n['status'])))
        out.append('<text x="%d" y="%d" class="label">%s</text>' % (label_w - 8, y + 15, _e(n['name'])))
        s = n['offset']
        f = s + (n['duration'] or 0.0) if s is not None else None
        if s is not None and f is not None:
            out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="1"/>'
                       % (x(s), x(f), y + 11, y + 11, TASK_COLOR))
        for t_off, t_dur, t_name, t_state in n.get('tasks', []):
            out.append('<rect class="task" x="%.1f" y="%d" width="%.1f" height="8" fill="%s"><title>%s: %s %s</title></rect>'
                       % (x(t_off), y + 7, max(t_dur * scale, 1.0),
                          '#e8a3a1' if t_state == 'failed' else TASK_COLOR, _e(t_name), _e(t_state), _e(fmt_seconds(t_dur))))
        if n.get('upgrade_offset') is not None and n.get('upgrade_duration'):
            out.append('<rect class="upgrade" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="#9bb7d4" rx="3">'
                       '<title>%s upgrade job: %s</title></rect>'
                       % (x(n['upgrade_offset']), y + 2, max(n['upgrade_duration'] * scale, 2.0), row_h - 4,
                          UPGRADE_SPAN_COLOR, _e(n['name']), _e(fmt_seconds(n['upgrade_duration']))))
        for p in n['phases']:
            ps = p['offset']
            pw = max(min(p['duration'] * scale, label_w + chart_w - x(ps)), 2.0)
            tip = '%s %s: %s' % (n['name'], p['name'], fmt_seconds(p['duration']))
            if p.get('node_started'):
                tip += ' from %s to %s (node clock)' % (p['node_started'], p.get('node_finished') or '?')
            else:
                tip += ' (placed from durations)'
            if p.get('rc') is not None:
                tip += ' rc=%s' % p['rc']
            if p.get('attempts') is not None:
                tip += ' attempts=%s' % p['attempts']
            out.append('<rect class="phase phase-%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" rx="2">'
                       '<title>%s</title></rect>'
                       % (_e(p['name']), x(ps), y + 3, pw, row_h - 6, PHASE_COLORS.get(p['name'], '#777'), _e(tip)))
        if n['unreachable']:
            ux = x(f) if f is not None else label_w + 4
            out.append('<text class="unreach" x="%.1f" y="%d" fill="%s">&#x2716;<title>%s unreachable: %s</title></text>'
                       % (ux + 2, y + 16, OUTCOME_COLORS[st.UNREACHABLE], _e(n['name']), _e(n['unreachable_msg'])))
        out.append('<rect x="%d" y="%d" width="10" height="10" rx="2" fill="%s"/>'
                   % (label_w + chart_w + 8, y + 6, status_color(n['status'], n['outcome'])))
        out.append('<text x="%d" y="%d" class="status">%s</text></g>'
                   % (label_w + chart_w + 22, y + 15, _e(n['status'].replace('_', ' '))))
    out.append('</svg></section>')
    return ''.join(out)


def _node_table(report):
    out = ['<section><h2>Nodes</h2><table id="nodes"><thead><tr><th>node</th><th>batch</th><th>status</th>'
           '<th>version</th><th>phases</th><th>payload sent</th><th>link bytes (to / from node)</th><th>took</th>'
           '<th>message</th></tr></thead><tbody>']
    for n in report['nodes']:
        phases = ' '.join('<span class="ph" style="border-color:%s">%s %s</span>'
                          % (PHASE_COLORS.get(p['name'], '#777'), _e(p['name'].replace('_', ' ')),
                             _e(fmt_seconds(p['duration']))) for p in n['phases'])
        version = n['installed_version'] or ''
        if n['previous_version'] and n['previous_version'] != n['installed_version']:
            version = '%s &rarr; %s' % (_e(n['previous_version']), _e(version))
        else:
            version = _e(version)
        msg = n['msg'] or ''
        if n['unreachable'] and n['unreachable_msg']:
            msg = n['unreachable_msg']
        if n.get('annotations', {}).get('reason'):
            msg = n['annotations']['reason']
        sent = n['payload_bytes_sent']
        out.append('<tr data-node="%s"><td>%s</td><td>%s</td><td><span class="pill" style="background:%s">%s</span></td>'
                   '<td>%s</td><td>%s</td><td>%s</td><td class="bytes">%s</td><td>%s</td><td class="msg">%s</td></tr>'
                   % (_e(n['name']), _e(n['name']), _e(n['batch'] or ''), status_color(n['status'], n['outcome']),
                      _e(n['status'].replace('_', ' ')), version, phases,
                      _e('%d B' % sent if isinstance(sent, int) else ''), _traffic_cell(n.get('traffic')),
                      _e(fmt_seconds(n['duration'])), _e(msg)))
    out.append('</tbody></table></section>')
    return ''.join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#57606a;margin:0 0 4px}.line{font-weight:600;margin:0 0 12px}
.badge{font-size:13px;padding:3px 10px;border-radius:12px;color:#fff;vertical-align:middle}
.badge.ok{background:#2e9d4a}.badge.bad{background:#d64541}.badge.warn{background:#e0a526}
.alert{background:#fdecea;border-left:4px solid #d64541;padding:8px 12px;margin:8px 0}
.cards{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:8px 16px;min-width:90px;text-align:center}
.card .num{font-size:28px;font-weight:700}.card .lbl{color:#57606a;font-size:12px;text-transform:uppercase}
.stack{display:flex;height:18px;border-radius:9px;overflow:hidden;border:1px solid #d0d7de;max-width:1060px}
.list{margin:6px 0}.legend{display:flex;gap:14px;font-size:12px;color:#57606a;margin-bottom:4px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-2px}
.legend i.x{width:auto;height:auto;color:#6b4ea0;font-style:normal}
svg text{font-size:12px}svg .label{text-anchor:end;fill:#1f2328}svg .axis{fill:#8b949e;font-size:10px}
svg .status{fill:#57606a;font-size:11px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left}
.pill{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px}
.ph{border-left:4px solid;padding:0 4px;margin-right:4px;white-space:nowrap}
.msg{max-width:420px;color:#57606a}footer{margin-top:24px;color:#8b949e;font-size:11px}
"""
