# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of waggle.honeycomb.upgrade.

1. Validate the task arguments; find ``src`` on the controller.
2. ``payload.inspect_archive(src)``, once per playbook run and payload file (``inspect_once``);
   verify the signature when ``allowed_signers`` is set or ``require_signature`` is true; check
   ``parameters`` against the manifest's schema. A refused payload never reaches the node.
3. Look the payload up in the node's store by SHA-256: one raw ``test -f <store path>`` (no Python
   started, no module sent). Only when it is missing is the archive transferred; then one module run,
   which verifies the hash of the stored (or uploaded, ``_honeycomb.payload_upload``) archive and moves
   an upload into the store. A store entry that fails that check is reported ``payload_missing`` and
   the payload is sent and the module run once more. When the node itself must expand ``state_dir``
   (not a plain absolute path) the look-up is a module run instead, as with ``async``, where the look-up
   is a quick synchronous module run and only the real run is wrapped.
4. With ``wait: true`` (not with the task keyword ``async``), the run is started the same way, detached
   under ``async_wrapper``, and waited for here, on the controller (``plugins/plugin_utils/_honeycomb/upgrade_wait.py``):
   polled with ``upgrade_info`` (``async_jid``), through dropped connections (reset, reconnect with backoff
   until ``reconnect_timeout``; then the result is unreachable), a job the node lost with its power
   started again (resumed by the engine) at most ``max_resumes`` times (then status ``lost``), and its
   result collected from the node. One task, one final status.

Round trips (docs/benchmarks.md): no remote tmp dir is made up front (``TRANSFERS_FILES`` is off), so
a re-run is two ssh execs (look-up, module). A payload missing from the node's store is sent by the
resumable transfer (``plugins/plugin_utils/_honeycomb/transfer.py``): chunks streamed from the file as the
stdin of plain execs into a partial file next to the store, verified chunk by chunk and as a whole, resumed
after a drop (``transfer_rate_limit``, ``transfer_stall_timeout``); its figures are the result's
``transfer``. In check mode, or when the node must expand ``state_dir``, the remote tmp dir and the
connection's file transfer (sftp/scp, streamed) are used as before.
When the node has the node-resident engine of this collection (docs/resident-engine.md,
``plugins/plugin_utils/_honeycomb/resident.py``), the look-up and the module run are one exec of that
engine instead: a re-run is one exec, and a missing payload up to ``inline.INLINE_MAX`` goes on the
engine's stdin with the next run (``_send_payload``): two. A node without that engine gets the engine's
sources with the task instead of the module (``_first_contact``), and installs it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import fcntl
import hashlib
import json
import os
import shlex
import time

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import controller_options
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import info as info_options
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resident_engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import signing
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import deferral
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import resident
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import traffic
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import transfer
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import upgrade_wait

MODULE = "waggle.honeycomb.upgrade"
INFO_MODULE = "waggle.honeycomb.upgrade_info"
RESULT_DROP_KEYS = ("ansible_job_id", "started", "finished", "results_file", "invocation", "warnings", "deprecations")
"""Keys of the node's async result file that are not part of the task result (the async bookkeeping;
the module's warnings are shown by the wait instead)."""
INSPECT_CACHE_VERSION = 1
display = Display()


def _payload_to_json(payload):
    def b64(data):
        return None if data is None else base64.b64encode(data).decode("ascii")
    return {"v": INSPECT_CACHE_VERSION, "format": payload.format, "manifest": payload.manifest,
            "archive_sha256": payload.archive_sha256, "signature": b64(payload.signature),
            "manifest_bytes": b64(payload.manifest_bytes), "path": payload.path,
            "expanded_bytes": payload.expanded_bytes, "member_count": payload.member_count}


def _payload_from_json(data):
    def unb64(text):
        return None if text is None else base64.b64decode(text)
    return pl.Payload(data["format"], data["manifest"], data["archive_sha256"], unb64(data["signature"]),
                      unb64(data["manifest_bytes"]), path=data["path"], expanded_bytes=data["expanded_bytes"],
                      member_count=data["member_count"])


def inspect_once(src, legacy_state_check, cache_dir=None):
    """``payload.inspect_archive`` once per playbook run and payload file, not once per host.

    Every host's task runs in its own forked worker, so the result is kept in a file in the run's
    private local tmp dir (``C.DEFAULT_LOCAL_TMP``, mode 0700, removed when the run ends), keyed by the
    file's identity (path, device, inode, size, mtime and ctime in ns): a payload replaced or modified
    during the run is inspected again. A lock makes the workers that start together wait for the first
    inspection instead of repeating it. A refused payload is not cached (every host reports the error).
    The node checks the SHA-256 of what it receives in any case.
    """
    cache_dir = cache_dir or getattr(C, "DEFAULT_LOCAL_TMP", None)
    try:
        st = os.stat(src)
    except OSError:
        st = None
    if not cache_dir or st is None or not os.path.isdir(cache_dir):
        return pl.inspect_archive(src, legacy_state_check=legacy_state_check)
    ident = json.dumps([os.path.realpath(src), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                        legacy_state_check, INSPECT_CACHE_VERSION])
    path = os.path.join(cache_dir, "honeycomb-inspect-%s.json" % hashlib.sha256(ident.encode("utf-8")).hexdigest()[:40])
    try:
        fd = os.open(path + ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError:
        return pl.inspect_archive(src, legacy_state_check=legacy_state_check)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with open(path) as handle:
                data = json.load(handle)
            if data.get("v") == INSPECT_CACHE_VERSION and data.get("ident") == ident:
                display.vvv("honeycomb: payload %s: inspection of this run reused" % src)
                return _payload_from_json(data)
        except (IOError, OSError, ValueError, KeyError, TypeError):
            pass
        payload = pl.inspect_archive(src, legacy_state_check=legacy_state_check)
        display.vvv("honeycomb: payload %s inspected" % src)
        data = _payload_to_json(payload)
        data["ident"] = ident
        tmp = "%s.%d.tmp" % (path, os.getpid())
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                json.dump(data, handle)
            os.rename(tmp, path)
        except (IOError, OSError) as exc:  # a full local tmp dir only costs the other workers a re-inspection
            display.vvv("honeycomb: could not cache the inspection of %s: %s" % (src, exc))
        return payload
    finally:
        os.close(fd)  # releases the lock


def _json_object_text(text):
    """The JSON object in ``text`` without lines around it (a login banner or a message of the node's
    shell, such as "lastlog_openseek: ...", may come before it on the same channel)."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith("{")), None)
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].rstrip().endswith("}")), None)
    if first is None or last is None or last < first:
        return text
    return "\n".join(lines[first:last + 1])


def _not_in_store(res):
    """The node's answer after the payload was sent, when it still reports it missing: a failure."""
    return dict(res, failed=True, msg="the payload was transferred but the node still does not find it in its store: "
                                      "%s" % (res.get("msg"),))


class ActionModule(ActionBase):

    # The remote tmp dir is made only when it is needed (see the module docstring).
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    @traffic.counted  # the result's "traffic": bytes sent and received over the connection
    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp

        spec = dict((k, v) for k, v in engine.argument_spec().items() if not k.startswith("_"))
        spec.update(controller_options.CONTROLLER_OPTIONS)
        spec.update(resident_engine.RESIDENT_OPTIONS)
        dummy, args = self.validate_argument_spec(argument_spec=spec, **engine.ARGUMENT_CONSTRAINTS)
        self._hc_transfer = {"args": args, "task_vars": task_vars, "stats": {}}
        try:
            return self._run(result, args, task_vars)
        except transfer.TransferError as exc:
            result.update(failed=True, changed=False, msg=exc.msg, transfer=exc.stats, payload_transferred=False,
                          payload_bytes_sent=exc.stats.get("bytes_sent", 0))
            return result
        except AnsibleConnectionFailure as exc:
            stats = self._hc_transfer["stats"]
            if not stats:
                raise
            # the node went away after the payload reached its store: unreachable, with what was sent
            result.update(unreachable=True, changed=False, msg=to_text(exc), transfer=stats, payload_transferred=True,
                          payload_bytes_sent=stats["bytes_sent"])
            return result

    def _run(self, result, args, task_vars):
        if args["wait"] and self._task.async_val:
            result.update(failed=True, changed=False, msg="wait: true waits for the job on the controller; do not also "
                          "set the task keywords async/poll (remove them, or set wait: false)")
            return result
        wait = args["wait"] and not self._task.check_mode  # a check-mode run is short: run it directly
        task_args = controller_options.without_controller_options(self._task.args)
        try:  # outside the node's maintenance window: stage the payload, install nothing (deferral.py)
            closed = deferral.closed_window(args, host=task_vars.get("inventory_hostname", "?"))
        except ValueError as exc:
            result.update(failed=True, changed=False, msg=to_text(exc))
            return result

        if args["state"] == "rolled_back" and not args.get("src"):
            # Rollback of a job with the payload in the node's store: one module run, nothing to send.
            module_args = dict((k, v) for k, v in task_args.items() if not k.startswith("_"))
            if closed:
                result.update(deferral.deferred(closed))
                return result
            if wait:
                result.update(self._wait(args, module_args, task_vars, src=None))
                return result
            result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars,
                                               wrap_async=bool(self._task.async_val)))
            return result

        try:
            src = self._find_needle("files", args["src"])
        except AnsibleError as exc:
            result.update(failed=True, changed=False, msg="payload src %s not found on the controller: %s"
                          % (args["src"], to_text(exc)))
            return result

        params = dict(args.get("parameters") or {})
        params.update(args.get("secret_parameters") or {})
        try:
            payload = inspect_once(src, args["legacy_state_check"])
            principal = None
            if args.get("allowed_signers") or args.get("require_signature"):
                principal = signing.verify_payload(payload, args.get("allowed_signers"),
                                                   require_signature=args.get("require_signature"))
            pl.validate_parameters(payload.manifest.get("parameters"), params)
        except pl.PayloadError as exc:
            result.update(failed=True, changed=False, msg=to_text(exc), payload_transferred=False,
                          payload_bytes_sent=0, payload_error={"member": exc.member, "reason": exc.reason})
            return result

        module_args = dict((k, v) for k, v in task_args.items() if not k.startswith("_"))
        module_args["src"] = src
        module_args["_honeycomb"] = {"payload_sha256": payload.archive_sha256}

        if closed:
            res = deferral.stage(self, src, module_args, task_vars, closed)
        elif wait:
            res = self._wait(args, module_args, task_vars, src=src)
        elif self._task.async_val:
            res = self._start_detached(module_args, task_vars, src)
        else:
            # The node-resident engine when the node has this version: one exec, the look-up included
            # (plugins/plugin_utils/_honeycomb/resident.py); else the module, which installs it.
            node = self._engine_runner(module_args, task_vars, args["resident_engine"])
            res = node.try_resident(module_args)
            if res is None and node.first_contact_ok:  # the engine's sources with the task, not the module
                res = self._first_contact(node, module_args, src)
            if res is None:
                stored = node.payload_stored  # the shell's answer, when it said "not installed"
                store = self._store_path(module_args) if stored is None else None
                if store is not None:
                    stored = self._low_level_execute_command("test -f %s" % shlex.quote(store))["rc"] == 0
                res = {"payload_missing": True} if stored is False else node.run(module_args)
            if res.get("payload_missing") and not res.get("failed"):
                notes = res.get("notes") or []
                res = self._send_payload(node, module_args, src)
                if notes:
                    res["notes"] = notes + (res.get("notes") or [])
            if res.get("payload_missing"):
                res = _not_in_store(res)
        result.update(res)
        if principal:
            result["signed_by"] = principal
        stats = self._hc_transfer["stats"]
        if stats:
            result.update(transfer=stats, payload_transferred=True, payload_bytes_sent=stats["bytes_sent"])
        return result

    def _engine_runner(self, module_args, task_vars, enabled):
        spec = dict(engine.argument_spec(), **resident_engine.RESIDENT_OPTIONS)
        return resident.EngineRunner(self, MODULE, "upgrade", task_vars, spec, engine.ARGUMENT_CONSTRAINTS,
                                     enabled=enabled, state_dir=module_args.get("state_dir"))

    def _start_detached(self, module_args, task_vars, src, time_limit=None, node=None, async_dir=None, on_before=None):
        """Start the module under async_wrapper (the task's ``async``, or ``time_limit`` seconds): a quick
        synchronous store look-up first, the payload sent when the node's store lacks it (``src`` given),
        then the detached run. Returns the start result (``ansible_job_id``) or the look-up's failure.
        ``node`` (an EngineRunner, with ``time_limit`` and ``async_dir``): start it with the node-resident
        engine when the node has it, look-up included, in one exec (plugin_utils/_honeycomb/resident.py).
        ``on_before``: called once before the job starts with what ``upgrade_info`` says of the node then
        (``installed``, ``boot``) when the resident engine's answer carries it, or with None (then the caller
        looks itself) before the module path starts the job."""
        if node is not None:
            res = self._start_resident(node, module_args, async_dir, time_limit, src, on_before)
            if res is None and on_before is not None:
                if on_before(None):  # the look (a module run) installed the resident engine: start with it
                    res = self._start_resident(node, module_args, async_dir, time_limit, src, None)
                on_before = None
            if res is not None:
                return res
        if on_before is not None:
            on_before(None)
        if src is not None:
            lookup_args = dict(module_args, _honeycomb=dict(module_args["_honeycomb"], lookup_only=True))
            if node is not None:  # the look-up installs the resident engine: a resume starts resident
                look = node.run_module(lookup_args)
            else:
                look = self._execute_module(module_name=MODULE, module_args=lookup_args, task_vars=task_vars,
                                            wrap_async=False)
            if look.get("failed"):
                return look
            if look.get("payload_missing"):
                self._upload(src, module_args, raw=not self._task.check_mode)
            if look.get("notes"):
                display.warning("; ".join(look["notes"]))
        saved = self._task.async_val
        if time_limit is not None:
            self._task.async_val = time_limit  # async_wrapper's time limit is read from the task
        try:
            return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars,
                                        wrap_async=True)
        finally:
            self._task.async_val = saved

    def _start_resident(self, node, module_args, async_dir, time_limit, src, on_before):
        """The detached start by the node-resident engine, or on a first contact with the engine's sources
        (the payload sent with it, or between two tries, when the node's store lacks it); None when neither can
        be used here (see :meth:`_start_detached`)."""
        before = on_before is not None
        res = node.try_detached(module_args, async_dir, time_limit, lookup=src is not None, before=before)
        if res is None and node.first_contact_ok:  # the engine's sources with the start, not the module
            res = self._first_contact(node, module_args, src, detach=(async_dir, time_limit, before))
        if res is not None and before and isinstance(res.get("before"), dict):
            on_before(res.pop("before"))
        if res is not None and res.get("payload_missing") and not res.get("failed"):
            res = self._send_payload(node, module_args, src, detach=(async_dir, time_limit))
            if res is not None and res.get("payload_missing"):
                res = _not_in_store(res)
        if res is not None and res.get("notes"):
            display.warning("; ".join(res.pop("notes")))
        return res

    def _wait(self, args, module_args, task_vars, src):
        """``wait: true``: start the job detached and wait for its end here (plugins/plugin_utils/_honeycomb/upgrade_wait.py)."""
        host = task_vars.get("inventory_hostname", "?")
        async_dir = self.get_shell_option("async_dir", default="~/.ansible_async")
        info_args = {"async_jid": None, "async_dir": async_dir, "limit": 0}
        for key in ("state_dir", "boot_slot_command", "recovery_slot"):
            if module_args.get(key) is not None:
                info_args[key] = module_args[key]

        before = {}
        start_node = self._engine_runner(module_args, task_vars, args["resident_engine"])
        # the polls read the node with the resident engine when it has this version (one small exec each)
        info_node = resident.EngineRunner(self, INFO_MODULE, "upgrade_info", task_vars, info_options.argument_spec(),
                                          enabled=args["resident_engine"], state_dir=module_args.get("state_dir"),
                                          share=start_node)

        def remember_before(look):
            """What upgrade_info says before the job: the versions, and the boot slot the job starts on. With
            None (the start found no usable engine), a look of its own: then True when that look installed the
            engine (the runners share what they know of it: the look goes straight to the module, which installs
            it), so that the job starts resident after all."""
            installed_now = False
            if look is None:
                info = info_node.run(dict(info_args, limit=0, async_jid=None))
                installed_now = start_node.enabled and start_node.usable is not False
                look = {"installed": {} if info.get("failed") else info.get("installed") or {}, "boot": info.get("boot")}
            before["installed"] = look.get("installed") or {}
            waiter.note_boot(look.get("boot"))
            return installed_now

        def start(time_limit):
            return self._start_detached(dict(module_args), task_vars, src, time_limit=time_limit, node=start_node,
                                        async_dir=async_dir,
                                        on_before=None if "installed" in before else remember_before)

        def poll(jid):
            made_tmp = self._connection._shell.tmpdir is None
            internal = {"collect": True}  # a finished job's result comes back with the poll (async_job.result)
            lost = [j for j in waiter.info["jobs"] if j != jid]
            if lost:  # the jobs the node lost and this task resumed: their status files are removed
                internal["forget"] = lost
            try:
                return info_node.run(dict(info_args, async_jid=jid, _honeycomb=internal))
            finally:
                if made_tmp and self._connection._shell.tmpdir is not None:  # not pipelined: leave nothing behind
                    self._remove_tmp_path(self._connection._shell.tmpdir)
                    self._connection._shell.tmpdir = None

        def collect(job):
            return self._collect(job)

        def reset():
            self._connection.reset()

        def probe():
            self._low_level_execute_command("true", sudoable=False)

        try:
            waiter = upgrade_wait.JobWaiter(
                start, poll, collect, reset, probe, wait_timeout=args["wait_timeout"],
                poll_interval=args["poll_interval"], reconnect_timeout=args["reconnect_timeout"],
                max_resumes=args["max_resumes"], log=lambda msg: display.vv("%s: upgrade job: %s" % (host, msg)))
        except ValueError as exc:
            return {"failed": True, "changed": False, "msg": to_text(exc)}
        result = waiter.run()
        installed = before.get("installed")
        if installed is not None:
            result["versions_before"] = dict((k, (v or {}).get("version")) for k, v in installed.items())
            if result.get("peripheral") and result.get("previous_version") is None:
                result["previous_version"] = result["versions_before"].get(result["peripheral"])
        return result

    def _collect(self, job):
        """The result the finished job's status file holds (written by async_wrapper or the resident engine's
        detached job): the poll that found the job finished brought it (``result``; the node renamed the file
        to ``<jid>.collected``), else it is read here and the file removed (two more execs)."""
        data = job.get("result")
        if not isinstance(data, dict) or not data:
            data = self._read_status_file(job)
        for warning in data.get("warnings") or []:
            if isinstance(warning, str):
                display.warning(warning)
        return dict((k, v) for k, v in data.items() if k not in RESULT_DROP_KEYS and not k.startswith("_ansible"))

    def _read_status_file(self, job):
        path = job.get("results_file")
        if not path:
            raise AnsibleError("upgrade_info named no results file for the finished job %s" % job.get("jid"))
        res = self._low_level_execute_command("cat %s" % shlex.quote(path))
        if res["rc"] != 0:
            raise AnsibleError("could not read the upgrade job's result %s on the node (rc %s): %s"
                               % (path, res["rc"], to_text(res.get("stderr")).strip()))
        try:
            data = json.loads(_json_object_text(to_text(res["stdout"])))
        except ValueError as exc:
            raise AnsibleError("the upgrade job's result %s on the node is not JSON (%s): %s"
                               % (path, exc, to_text(res["stdout"])[:300]))
        if not isinstance(data, dict):
            raise AnsibleError("the upgrade job's result %s on the node is not a JSON object" % path)
        try:
            self._low_level_execute_command("rm -f %s" % shlex.quote(path))
        except AnsibleConnectionFailure as exc:  # the result is in hand; a leftover status file is harmless
            display.vvv("could not remove %s: %s" % (path, to_text(exc)))
        return data

    def _send_payload(self, node, module_args, src, detach=None):
        """The payload is missing from the node's store: send it and run the task again (``detach``:
        ``(async_dir, time_limit[, before])``, start it detached; then None when the engine cannot be used). A small
        payload goes on the resident engine's stdin with the task, in ONE exec (``inline.INLINE_MAX``,
        ``module_utils/_honeycomb/inline.py``); else the resumable transfer, then the run."""
        data = None
        if node.usable is True and self._layout(module_args) is not None:
            data = resident.inline_payload(src, check_mode=self._task.check_mode)
        if data is not None:
            res = self._send_inline(node, module_args, data, detach)
            if res is not None:
                return res
        self._upload(src, module_args, raw=not self._task.check_mode)
        if detach is not None:
            return node.try_detached(module_args, detach[0], detach[1], lookup=True)
        return node.run(module_args)

    def _first_contact(self, node, module_args, src, detach=None):
        """No engine of this version on the node (the shell said so, and whether the payload is in the
        store): one exec sends the engine's sources with the task (resident.EngineRunner.try_first_contact),
        and a small missing payload with them; a larger one goes by the resumable transfer first, as on the
        module path. None when that cannot be used (then the module path), and in check mode with the payload
        missing (then the caller copies it to the remote tmp dir and runs: the first contact with that upload)."""
        missing = src is not None and node.payload_stored is False
        if missing and (self._task.check_mode or self._layout(module_args) is None):
            return None
        data = resident.inline_payload(src) if missing else None
        if missing and data is None:
            self._upload(src, module_args, raw=True)
        if data is not None:
            return self._send_inline(node, module_args, data, detach, first=True)
        options = None if detach is None else node.detach_options(detach[0], detach[1], src is not None, *detach[2:])
        return node.try_first_contact(module_args, detach=options)

    def _execute_first_contact(self, cmd, in_data):
        """The first-contact exec (resident.EngineRunner.try_first_contact): the engine's code and the task go
        as a module run's do, and are counted so (``modules``, traffic.py), unless a payload goes with them
        (then inside :meth:`_send_inline`: ``payload``)."""
        return self._low_level_execute_command(cmd, in_data=in_data)

    def _send_inline(self, node, module_args, data, detach, first=False):
        """One resident exec with the payload on its stdin (counted as payload traffic: traffic.py); its
        figures are the result's ``transfer`` (``inline: true``), as the resumable transfer's are.
        ``first``: the first-contact exec, which carries the engine's sources as well."""
        t0 = time.monotonic()
        options = None if detach is None else node.detach_options(detach[0], detach[1], True, *detach[2:])
        if first:
            res = node.try_first_contact(module_args, detach=options, payload=data)
        else:
            res = node.try_resident(module_args, detach=options, payload=data)
        report = node.inline_report or {}
        if res is not None and report.get("stored"):
            size = len(data)
            self._hc_transfer["stats"] = dict(
                transfer.new_stats(size), bytes_sent=size, bytes_received=size, attempts=1, chunks=1, max_chunk=size,
                duration=round(time.monotonic() - t0, 3), stored=True, inline=True)
        return res

    def _upload(self, src, module_args, raw):
        """Send the payload for the module's next run. ``raw``: straight into the node's store by the
        resumable transfer (plugin_utils/_honeycomb/transfer.py) when the controller can name the store's
        paths; else (check mode, a state_dir the node expands) into the remote tmp dir. Returns None (the
        transfer leaves no upload file for the caller to remove)."""
        layout = self._layout(module_args)
        if raw and layout is not None:
            host = self._hc_transfer["task_vars"].get("inventory_hostname", "?")
            self._hc_transfer["stats"] = transfer.send(
                self, src, module_args["_honeycomb"]["payload_sha256"], layout, self._hc_transfer["args"],
                self._hc_transfer["task_vars"], log=lambda msg: display.vv("%s: payload transfer: %s" % (host, msg)))
            # the module reports it (also in an async job's result, which replaces this task's)
            module_args["_honeycomb"] = dict(module_args["_honeycomb"], payload_transferred=True,
                                             payload_bytes_sent=self._hc_transfer["stats"]["bytes_sent"])
            return None
        tmpdir = self._connection._shell.tmpdir
        if tmpdir is None:
            tmpdir = self._make_tmp_path()
        remote = self._connection._shell.join_path(tmpdir, "honeycomb-payload.tar.gz")
        self._transfer_file(src, remote)
        self._fixup_perms2((tmpdir, remote), execute=False)
        module_args["_honeycomb"] = dict(module_args["_honeycomb"], payload_upload=remote,
                                         payload_bytes_sent=os.path.getsize(src))
        return None

    @staticmethod
    def _layout(module_args):
        """The node's state dir layout when state_dir is a plain absolute path, else None (the node expands it)."""
        return StateLayout.plain(module_args.get("state_dir"))

    def _store_path(self, module_args):
        """The store entry of the payload, which the raw look-up tests, or None."""
        layout = self._layout(module_args)
        if layout is None:
            return None
        return layout.payload_path(module_args["_honeycomb"]["payload_sha256"])
