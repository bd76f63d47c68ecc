# -*- coding: utf-8 -*-
# Copyright (c) waggle.honeycomb developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
name: beekeeper_log
type: notification
short_description: Post each node's rollout result to Beekeeper's C(/log) as an event
description:
  - Whenever a node's rollout status becomes known or changes during a run (the result of
    C(waggle.honeycomb.upgrade), also collected with C(ansible.builtin.async_status); the status the
    rollout records for a node in its C(honeycomb_rollout) fact, such as C(unreachable),
    C(post_check_failed) or C(lost); an unreachable node), posts one operation to the Beekeeper
    C(/log) URL O(url) in the shape Beekeeper documents, a JSON object with C(node_id),
    C(operation) (V(insert)), C(field_name), C(field_value) (the node's status), C(source) and
    C(effective_time) (ISO 8601, UTC, seconds).
  - Off by default. Enable it with C(ANSIBLE_CALLBACKS_ENABLED=waggle.honeycomb.beekeeper_log) (or add it to
    C(callbacks_enabled) in C(ansible.cfg)) and set O(url).
  - Events are sent in the background, with O(timeout) per request and O(retries) retries (connection
    errors, timeouts, HTTP 5xx), so a slow Beekeeper does not hold up the rollout. A failure to post is
    a warning and never fails the run; after three events in a row could not be delivered the rest of
    the run's events are dropped with one warning. At the end of the run the plugin waits at most
    O(drain_timeout) seconds for events still being sent.
  - The token is never shown, logged or written anywhere by this plugin.
  - 'Not confirmed: the stock Beekeeper accepts only its own C(nodes_history) columns as C(field_name)
    (C(name), C(mode), C(vsn), ...; any other name is answered with HTTP 500) and keeps values of at most 64
    characters. Point O(url) at a Beekeeper (or a service in front of it) that has a column for O(field_name);
    see docs/beekeeper.md.'
version_added: 0.1.0
requirements:
  - enable in configuration, for example C(ANSIBLE_CALLBACKS_ENABLED=waggle.honeycomb.beekeeper_log)
options:
  url:
    description:
      - The Beekeeper C(/log) URL, for example V(http://beekeeper-api:5000/log). Nothing is posted when unset.
      - The extra variable C(beekeeper_log_url) (C(-e beekeeper_log_url=...)) overrides it for one run.
    type: str
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_URL
    ini:
      - section: callback_beekeeper_log
        key: url
  token:
    description:
      - Sent in the C(Authorization) header as C(<token_scheme> <token>) when set. Beekeeper's own API has
        no authentication; a proxy in front of it may want one.
      - Prefer the environment variable; the plugin never prints it.
    type: str
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_TOKEN
    ini:
      - section: callback_beekeeper_log
        key: token
  token_scheme:
    description: Authorization scheme for O(token).
    type: str
    default: Sage
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_TOKEN_SCHEME
    ini:
      - section: callback_beekeeper_log
        key: token_scheme
  field_name:
    description: The C(field_name) of every event (a C(nodes_history) column of the Beekeeper it is posted to).
    type: str
    default: honeycomb_rollout
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_FIELD
    ini:
      - section: callback_beekeeper_log
        key: field_name
  source:
    description: The C(source) of every event (who wrote it), at most 64 characters.
    type: str
    default: waggle.honeycomb
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_SOURCE
    ini:
      - section: callback_beekeeper_log
        key: source
  outcomes:
    description:
      - Post only statuses with these outcomes (the rollout's status model, docs/rollout.md).
    type: list
    elements: str
    default: [success, failure, unreachable, pending, skipped]
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_OUTCOMES
    ini:
      - section: callback_beekeeper_log
        key: outcomes
  node_id_var:
    description:
      - Host variable holding a node's Beekeeper ID (16 hexadecimal digits). The C(waggle.honeycomb.beekeeper)
        inventory and the simulated fleet set C(node_id); when it is missing, C(ansible_host) is used if it
        is a node ID. Hosts without one get no events (one warning each).
    type: str
    default: node_id
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_NODE_ID_VAR
    ini:
      - section: callback_beekeeper_log
        key: node_id_var
  timeout:
    description: Seconds one request may take.
    type: float
    default: 10
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_TIMEOUT
    ini:
      - section: callback_beekeeper_log
        key: timeout
  retries:
    description: Retries of an event after a connection error, a timeout or an HTTP 5xx answer.
    type: int
    default: 3
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_RETRIES
    ini:
      - section: callback_beekeeper_log
        key: retries
  retry_delay:
    description: Seconds before the first retry; doubled for every further one.
    type: float
    default: 2
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_RETRY_DELAY
    ini:
      - section: callback_beekeeper_log
        key: retry_delay
  drain_timeout:
    description: Seconds to wait at the end of the run for events still being sent.
    type: float
    default: 60
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_DRAIN_TIMEOUT
    ini:
      - section: callback_beekeeper_log
        key: drain_timeout
  validate_certs:
    description: Verify the TLS certificate of an https O(url).
    type: bool
    default: true
    env:
      - name: HONEYCOMB_BEEKEEPER_LOG_VALIDATE_CERTS
    ini:
      - section: callback_beekeeper_log
        key: validate_certs
"""

import datetime
import json
import re
import threading
import time

try:
    import queue
except ImportError:  # pragma: no cover
    import Queue as queue  # noqa: N813

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit, urlunsplit
from ansible.module_utils.urls import open_url
from ansible.plugins.callback import CallbackBase
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as status_model
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb.task_results import FinishedTaskEvents
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb.task_results import task_result_parts

NODE_ID_RE = re.compile(r'^[0-9A-Fa-f]{16}$')
MAX_VALUE = 64  # Beekeeper's nodes_log columns are VARCHAR(64)
GIVE_UP_AFTER = 3  # undelivered events in a row before the rest of the run's events are dropped
UPGRADE_ACTIONS = ('upgrade', 'upgrade_rollback', 'async_status')


# ------------------------------------------------------------------------------- what a result says
def node_status(action, result, state='ok'):
    """The rollout status a task result gives its node, or None.

    The seam where the rollout's outcome classification plugs in: a status is one of the status
    model's (plugins/module_utils/_honeycomb/status.py); its outcome is status_model.outcome()."""
    if state == 'unreachable':
        return status_model.UNREACHABLE
    if not isinstance(result, dict):
        return None
    short = (action or '').split('.')[-1]
    if short in UPGRADE_ACTIONS and result.get('status') in status_model.ENGINE_STATUSES \
            and isinstance(result.get('phases'), dict):
        return result['status']
    facts = result.get('ansible_facts')
    if short == 'set_fact' and isinstance(facts, dict) and isinstance(facts.get('honeycomb_rollout'), dict):
        recorded = facts['honeycomb_rollout'].get('status')
        if recorded in status_model.STATUSES:
            return recorded
    return None


def rollout_kind(result):
    """upgrade, or rollback for a job that undid another (the upgrade module's ``action``)."""
    if isinstance(result, dict) and result.get('action') == status_model.ROLLBACK:
        return status_model.ROLLBACK
    return status_model.UPGRADE


def event(node_id, status, field_name, source, when=None):
    """One Beekeeper /log operation."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return {
        'node_id': node_id.upper(),
        'operation': 'insert',
        'field_name': field_name,
        'field_value': status[:MAX_VALUE],
        'source': source[:MAX_VALUE],
        'effective_time': when.replace(microsecond=0).isoformat(),
    }


def safe_url(url):
    """The URL without user:password@ (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return '<invalid URL>'
    netloc = parts.netloc.rsplit('@', 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, '', ''))


class Sender(object):
    """Posts events from a background thread: bounded timeout, retries with backoff, never raises."""

    def __init__(self, url, headers, timeout, retries, retry_delay, validate_certs, secrets=()):
        self.url = url
        self.headers = headers
        self.timeout = timeout
        self.retries = max(0, retries)
        self.retry_delay = max(0.0, retry_delay)
        self.validate_certs = validate_certs
        self.messages = []  # (level, text) for the main thread to show: Display is not used from here
        self._lock = threading.Lock()
        self.secrets = [s for s in secrets if s]
        self.queue = queue.Queue()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.failures_in_a_row = 0
        self.given_up = False
        self._thread = None

    def warn(self, text):
        with self._lock:
            self.messages.append(('warning', text))

    def debug(self, text):
        with self._lock:
            self.messages.append(('vv', text))

    def take_messages(self):
        with self._lock:
            out, self.messages = self.messages, []
        return out

    def _clean(self, text):
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, '********')
        return text

    def put(self, item):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name='beekeeper_log')
            self._thread.daemon = True
            self._thread.start()
        self.queue.put(item)

    def _run(self):
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                if self.given_up:
                    self.dropped += 1
                    continue
                self._deliver(item)
            finally:
                self.queue.task_done()

    def _deliver(self, item):
        label, body = item
        data = json.dumps(body).encode('utf-8')
        delay = self.retry_delay
        reason = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            try:
                response = open_url(self.url, data=data, headers=self.headers, method='POST', timeout=self.timeout,
                                    validate_certs=self.validate_certs, use_netrc=False, follow_redirects='none')
                response.read()
                self.sent += 1
                self.failures_in_a_row = 0
                self.debug('beekeeper_log: posted %s (attempt %d)' % (label, attempt + 1))
                return
            except HTTPError as e:
                reason = 'HTTP %s %s' % (e.code, self._clean(getattr(e, 'reason', '')))
                if e.code < 500:
                    break  # the request itself is wrong: a retry cannot help
            except (URLError, OSError, ValueError) as e:
                reason = self._clean(getattr(e, 'reason', e))
            except Exception as e:  # pylint: disable=broad-except  # never fail the run for an event
                reason = self._clean(e)
        self.failed += 1
        self.failures_in_a_row += 1
        self.warn('beekeeper_log: could not post %s to %s: %s (the rollout goes on)'
                  % (label, safe_url(self.url), reason))
        if self.failures_in_a_row >= GIVE_UP_AFTER and not self.given_up:
            self.given_up = True
            self.warn('beekeeper_log: %d events in a row could not be posted to %s; not trying again in this run'
                      % (self.failures_in_a_row, safe_url(self.url)))

    def drain(self, deadline_s):
        """Wait for queued events, at most deadline_s seconds; returns the number still unsent."""
        if self._thread is None:
            return 0
        self.queue.put(None)
        self._thread.join(max(0.0, deadline_s))
        return self.queue.unfinished_tasks if self._thread.is_alive() else 0


class CallbackModule(FinishedTaskEvents, CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'waggle.honeycomb.beekeeper_log'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super(CallbackModule, self).__init__(display=display, options=options)
        self.sender = None
        self.url = None
        self.posted = {}
        self.warned_hosts = set()
        self.warned_setup = False

    # ------------------------------------------------------------------ set-up
    def set_options(self, task_keys=None, var_options=None, direct=None):
        super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.url = self.get_option('url')

    def _ensure_sender(self):
        if self.sender is not None:
            return self.sender
        if not self.url:
            if not self.warned_setup:
                self.warned_setup = True
                self._display.warning('beekeeper_log is enabled but has no url: set HONEYCOMB_BEEKEEPER_LOG_URL, '
                                      '[callback_beekeeper_log] url or -e beekeeper_log_url=...; no events are posted')
            return None
        headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}
        token = self.get_option('token')
        if token:
            headers['Authorization'] = '%s %s' % (self.get_option('token_scheme'), token)
        self.sender = Sender(self.url, headers, float(self.get_option('timeout')), int(self.get_option('retries')),
                             float(self.get_option('retry_delay')), self.get_option('validate_certs'),
                             secrets=(token,))
        return self.sender

    def v2_playbook_on_play_start(self, play):
        try:
            extra = play.get_variable_manager().extra_vars
        except Exception:  # pylint: disable=broad-except  # extra vars are an optional override
            extra = {}
        if isinstance(extra, dict) and extra.get('beekeeper_log_url') and self.sender is None:
            self.url = str(extra['beekeeper_log_url'])

    def _flush(self):
        if self.sender is None:
            return
        for level, text in self.sender.take_messages():
            if level == 'warning':
                self._display.warning(text)
            else:
                self._display.vv(text)

    # ------------------------------------------------------------------ results
    def _node_id(self, host):
        try:
            host_vars = host.get_vars()
        except Exception:  # pylint: disable=broad-except
            host_vars = {}
        for value in (host_vars.get(self.get_option('node_id_var')), host_vars.get('ansible_host')):
            if isinstance(value, str) and NODE_ID_RE.match(value.strip()):
                return value.strip().upper()
        return None

    def _handle(self, result, state, ignore_errors=False):
        self._flush()
        host, task, res = task_result_parts(result)
        action = getattr(task, 'resolved_action', None) or getattr(task, 'action', None)
        status = node_status(action, res, state)
        if status is None:
            return
        name = host.get_name()
        if self.posted.get(name) == status:
            return
        try:
            outcome = status_model.outcome(status, rollout_kind(res))
        except ValueError:
            return
        if outcome not in (self.get_option('outcomes') or ()):
            return
        sender = self._ensure_sender()
        if sender is None:
            return
        node_id = self._node_id(host)
        if node_id is None:
            if name not in self.warned_hosts:
                self.warned_hosts.add(name)
                self._display.warning('beekeeper_log: %s has no node ID (host variable %s or ansible_host, 16 '
                                      'hexadecimal digits); its events are not posted'
                                      % (name, self.get_option('node_id_var')))
            return
        self.posted[name] = status
        body = event(node_id, status, self.get_option('field_name'), self.get_option('source'))
        sender.put(('%s (%s) %s' % (name, node_id, status), body))

    # ok, failed and unreachable results (also async) come here through FinishedTaskEvents; ignore_errors does
    # not change what is posted, and a skipped task posts nothing

    def v2_playbook_on_stats(self, stats):
        if self.sender is None:
            return
        left = self.sender.drain(float(self.get_option('drain_timeout')))
        self._flush()
        s = self.sender
        if left:
            self._display.warning('beekeeper_log: %d events were still being sent after %ss and are dropped'
                                  % (left, self.get_option('drain_timeout')))
        self._display.display('beekeeper_log: %d events posted to %s, %d not delivered%s'
                              % (s.sent, safe_url(s.url), s.failed + s.dropped,
                                 ' (given up)' if s.given_up else ''),
                              color='green' if not (s.failed or s.dropped or left) else 'yellow')
