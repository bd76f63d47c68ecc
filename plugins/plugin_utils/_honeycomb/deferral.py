# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What waggle.honeycomb.upgrade does outside a node's maintenance window (controller only).

:func:`closed_window` evaluates the task's ``maintenance_window``/``ignore_windows`` options now
(plugins/plugin_utils/_honeycomb/windows.py); when the node is outside its windows the action plugin
calls :func:`stage` instead of running the job: the payload is put into the node's store (looked up,
transferred when missing, its SHA-256 verified by the node, nothing installed) and the result is status
``deferred`` - pending in the status model, never a failure. The next run inside the window finds the
payload in the store and installs without sending it again.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime as dt

from ansible.module_utils.common.text.converters import to_text
from ansible.utils.display import Display

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import status as st
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import windows

MODULE = "waggle.honeycomb.upgrade"
display = Display()


def closed_window(args, host="?", now=None):
    """The window evaluation (windows.evaluate) when the node is outside its maintenance windows, else
    None. ValueError (a WindowError) for a bad window, naming the field."""
    value = args.get("maintenance_window")
    if value in (None, "", [], {}):
        return None
    evaluation = windows.evaluate(value, now or dt.datetime.now(dt.timezone.utc), ignore=bool(args.get("ignore_windows")))
    if evaluation["ignored"]:
        display.warning("%s: %s" % (host, evaluation["msg"]))
    return None if evaluation["open"] else evaluation


def deferred(evaluation, staged=False, transferred=False, bytes_sent=0, note=""):
    """The task result of a deferred node."""
    msg = "deferred: %s; %s" % (evaluation["msg"], note or "nothing was installed")
    return {"changed": bool(transferred), "status": st.DEFERRED, "msg": msg, "staged": staged,
            "payload_transferred": bool(transferred), "payload_bytes_sent": int(bytes_sent or 0),
            "maintenance_window": evaluation}


def stage(action, src, module_args, task_vars, evaluation):
    """Put the payload into the node's store without installing it; the ``deferred`` result.

    ``action``: the waggle.honeycomb.upgrade action plugin (its ``_execute_module`` and ``_upload``).
    One module run looks the payload up (``lookup_only``); when the store lacks it, it is sent and a
    second look-up run verifies its SHA-256 and moves it into the store, as the job would have.
    In check mode nothing is sent."""
    if action._task.check_mode:
        return deferred(evaluation, note="check mode: nothing was sent or installed")
    look_args = dict(module_args, _honeycomb=dict(module_args["_honeycomb"], lookup_only=True))
    look = action._execute_module(module_name=MODULE, module_args=look_args, task_vars=task_vars)
    if look.get("failed") or look.get("unreachable"):
        return look
    if not look.get("payload_missing"):
        return deferred(evaluation, staged=True, note="the payload is already in the node's store; nothing was "
                                                      "installed")
    action._upload(src, module_args, raw=True)  # the resumable transfer verifies it into the store
    look_args = dict(module_args, _honeycomb=dict(module_args["_honeycomb"], lookup_only=True))
    stored = action._execute_module(module_name=MODULE, module_args=look_args, task_vars=task_vars)
    if stored.get("failed") or stored.get("unreachable") or stored.get("payload_missing"):
        stored.setdefault("msg", "")
        stored["msg"] = "could not stage the payload in the node's store: %s" % to_text(stored["msg"])
        stored["failed"] = bool(stored.get("failed") or stored.get("payload_missing"))
        return stored
    sent = ((getattr(action, "_hc_transfer", None) or {}).get("stats") or {}).get("bytes_sent")  # resumable transfer
    return deferred(evaluation, staged=True, transferred=True,
                    bytes_sent=module_args["_honeycomb"].get("payload_bytes_sent") if sent is None else sent,
                    note="the payload was staged in the node's store; nothing was installed")
