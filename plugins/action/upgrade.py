# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of waggle.honeycomb.upgrade.

1. Validate the task arguments; find ``src`` on the controller.
2. ``payload.inspect_archive(src)``; verify the signature when ``allowed_signers`` is set or
   ``require_signature`` is true; check ``parameters`` against the manifest's schema. A refused
   payload never reaches the node.
3. One module run that looks the payload up in the node's store by SHA-256. Only when the module
   answers ``payload_missing`` is the archive transferred to the remote tmp dir and the module run
   again with ``_honeycomb.payload_upload``; it verifies the hash and moves the file into the store.
   With ``async`` the look-up is a quick synchronous run and only the real run is wrapped.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import signing

MODULE = "waggle.honeycomb.upgrade"
display = Display()


class ActionModule(ActionBase):

    TRANSFERS_FILES = True
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        spec = dict((k, v) for k, v in engine.argument_spec().items() if not k.startswith("_"))
        dummy, args = self.validate_argument_spec(argument_spec=spec)

        try:
            src = self._find_needle("files", args["src"])
        except AnsibleError as exc:
            result.update(failed=True, changed=False, msg="payload src %s not found on the controller: %s"
                          % (args["src"], to_text(exc)))
            return result

        params = dict(args.get("parameters") or {})
        params.update(args.get("secret_parameters") or {})
        try:
            payload = pl.inspect_archive(src, legacy_state_check=args["legacy_state_check"])
            principal = None
            if args.get("allowed_signers") or args.get("require_signature"):
                principal = signing.verify_payload(payload, args.get("allowed_signers"),
                                                   require_signature=args.get("require_signature"))
            pl.validate_parameters(payload.manifest.get("parameters"), params)
        except pl.PayloadError as exc:
            result.update(failed=True, changed=False, msg=to_text(exc), payload_transferred=False,
                          payload_bytes_sent=0, payload_error={"member": exc.member, "reason": exc.reason})
            return result

        module_args = dict((k, v) for k, v in self._task.args.items() if not k.startswith("_"))
        module_args["src"] = src
        module_args["_honeycomb"] = {"payload_sha256": payload.archive_sha256}

        wrap_async = bool(self._task.async_val)
        if wrap_async:
            lookup_args = dict(module_args, _honeycomb=dict(module_args["_honeycomb"], lookup_only=True))
            look = self._execute_module(module_name=MODULE, module_args=lookup_args, task_vars=task_vars,
                                        wrap_async=False)
            if look.get("failed"):
                result.update(look)
                return result
            if look.get("payload_missing"):
                self._upload(src, module_args)
            if look.get("notes"):
                display.warning("; ".join(look["notes"]))
            res = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars,
                                       wrap_async=True)
        else:
            res = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
            if res.get("payload_missing") and not res.get("failed"):
                notes = res.get("notes") or []
                self._upload(src, module_args)
                res = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
                if notes:
                    res["notes"] = notes + (res.get("notes") or [])
            if res.get("payload_missing"):
                res["failed"] = True
                res["msg"] = "the payload was transferred but the node still does not find it in its store: %s" % (
                    res.get("msg"),)
        result.update(res)
        if principal:
            result["signed_by"] = principal
        return result

    def _upload(self, src, module_args):
        tmpdir = self._connection._shell.tmpdir
        if tmpdir is None:
            tmpdir = self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, "honeycomb-payload.tar.gz")
        self._transfer_file(src, remote)
        self._fixup_perms2((tmpdir, remote), execute=False)
        module_args["_honeycomb"] = dict(module_args["_honeycomb"], payload_upload=remote,
                                         payload_bytes_sent=os.path.getsize(src))
