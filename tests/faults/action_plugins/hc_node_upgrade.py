# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only action: run the node side of waggle.honeycomb.upgrade on an archive the controller did
NOT check (as if the controller were bypassed or compromised), so a test proves that the node refuses
hostile payloads by itself. Transfers ``src`` into the remote tmp dir and runs the module with the
internal ``_honeycomb`` option the real action plugin would set. Never use outside tests."""

from __future__ import annotations

import hashlib

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        src = args["src"]
        with open(src, "rb") as handle:
            sha = hashlib.sha256(handle.read()).hexdigest()
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, "unchecked-payload.tar.gz")
        self._transfer_file(src, remote)
        self._fixup_perms2((tmpdir, remote), execute=False)
        args["_honeycomb"] = {"payload_sha256": sha, "payload_upload": remote, "payload_bytes_sent": 0}
        result.update(self._execute_module(module_name="waggle.honeycomb.upgrade", module_args=args,
                                           task_vars=task_vars))
        self._remove_tmp_path(tmpdir)
        return result
