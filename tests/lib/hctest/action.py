"""Build an action plugin the way the task executor does, with a stub task and connection.

``make_action(ActionModule, basedir, "waggle.honeycomb.x", args)`` gives a plugin whose task has ``args``,
``check_mode`` and ``async_val``, whose search path and loader base dir are ``basedir``, and whose
connection is a MagicMock with a real ``join_path``; each test then patches what it records
(module runs, low-level commands) around ``plugin.run``.
"""

import os
from unittest import mock

from ansible.parsing.dataloader import DataLoader


def make_action(action_class, basedir, action, args, check_mode=False, async_val=0):
    loader = DataLoader()
    loader.set_basedir(str(basedir))
    task = mock.MagicMock()
    task.args = args
    task.async_val = async_val
    task.check_mode = check_mode
    task.action = action
    task.get_search_path.return_value = [str(basedir)]
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    connection._shell.join_path = os.path.join
    return action_class(task, connection, mock.MagicMock(), loader, mock.MagicMock(), None)
