# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the callbacks share about task results (plugins/plugin_utils/_honeycomb/task_results.py): opening a
result of every supported ansible-core, and which runner events reach a callback's ``_handle``."""

import pytest
from ansible.plugins.callback import CallbackBase

from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import task_results
from hctest.callback_fakes import Result


class OldResult:
    """ansible-core 2.16-2.18's TaskResult as callbacks get it: private attributes only."""

    def __init__(self, host, task, result):
        self._host, self._task, self._result = host, task, result


@pytest.mark.parametrize('cls', [Result, OldResult])
def test_task_result_parts_opens_both_shapes(cls):
    host, task, res = object(), object(), {'changed': True}
    assert task_results.task_result_parts(cls(host, task, res)) == (host, task, res)


class Recorder(task_results.FinishedTaskEvents, CallbackBase):
    def __init__(self):
        super(Recorder, self).__init__()
        self.calls = []

    def _handle(self, result, state, ignore_errors=False):
        self.calls.append((result, state, ignore_errors))


@pytest.mark.parametrize('event, args, expected', [
    ('v2_runner_on_ok', (), ('ok', False)),
    ('v2_runner_on_failed', (), ('failed', False)),
    ('v2_runner_on_failed', (True,), ('failed', True)),
    ('v2_runner_on_unreachable', (), ('unreachable', False)),
    ('v2_runner_on_async_ok', (), ('ok', False)),
    ('v2_runner_on_async_failed', (), ('failed', False)),
])
def test_finished_task_events_reach_handle(event, args, expected):
    cb, result = Recorder(), object()
    getattr(cb, event)(result, *args)
    assert cb.calls == [(result,) + expected]


def test_skipped_is_left_to_the_callback():
    assert 'v2_runner_on_skipped' not in vars(task_results.FinishedTaskEvents)
    assert Recorder.v2_runner_on_skipped is CallbackBase.v2_runner_on_skipped


def test_a_callback_without_handle_is_told_what_to_define():
    class Incomplete(task_results.FinishedTaskEvents, CallbackBase):
        pass

    with pytest.raises(NotImplementedError, match=r'Incomplete must define _handle\(result, state'):
        Incomplete().v2_runner_on_ok(object())
