# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of the node-resident engine (the node side and its install format:
``plugins/module_utils/_honeycomb/resident_engine.py``; docs/resident-engine.md).

:class:`EngineRunner` runs one node-side action (``upgrade`` or ``upgrade_info``) for an action plugin:

* with the resident engine when the node has the one of this collection (its version is the hash of the
  engine's sources here): ONE exec, ``python -I -S -c <bootstrap> <dir> <version>``, the task as JSON on
  stdin, the result as JSON on stdout; no module is built or sent, no tmp dir made;
* otherwise with the module, as before, asking it to install the resident engine after its run (it has
  the sources in its AnsiballZ already: nothing more is sent). That is the fallback for a first contact,
  a node with another version, an install that fails its verification (the bootstrap checks the
  manifest and the SHA-256 of the bytecode before running any of it), a node where the recorded
  interpreter is gone, and ``resident_engine: false``.

Both give the same result: the parameters are validated here against the module's own argument spec
(``path`` options are expanded on the node, as the module does), check mode is passed on, and values of
``no_log`` options are masked in the result as ``AnsibleModule`` masks them.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shlex

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.common.text.converters import to_text
from ansible.utils.display import Display

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import inline
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import resident_engine as rn
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.layout import StateLayout
from ansible_collections.waggle.honeycomb.plugins.plugin_utils._honeycomb import transfer

display = Display()

UNUSABLE_KEY = "resident_unusable"
RESULT_KEY = "resident_result"
INSTALL_KEY = "resident_install"
NOT_INSTALLED = "not installed"
"""The shell's answer when the node has no install of this version (no Python started): a first contact."""
_CACHE = {}


def _sources():
    """[(name, source)] of this collection's resident engine (once per process)."""
    if "sources" not in _CACHE:
        _CACHE["sources"] = rn.bundle()
    return _CACHE["sources"]


def engine_version():
    """The version of this collection's resident engine (hash of its sources; once per process)."""
    if "version" not in _CACHE:
        _CACHE["version"] = rn.bundle_hash(_sources())
    return _CACHE["version"]


def first_contact_stdin():
    """The engine's sources as the first-contact bootstrap reads them (compressed; once per process)."""
    if "stdin" not in _CACHE:
        _CACHE["stdin"] = rn.first_contact_stdin(_sources())
    return _CACHE["stdin"]


def node_spec(spec):
    """``spec`` with ``path`` options as ``str`` (the node expands them), and the names of those options."""
    out = {}
    path_keys = []
    for key, opt in spec.items():
        opt = dict(opt)
        if opt.get("type") == "path":
            opt["type"] = "str"
            path_keys.append(key)
        out[key] = opt
    return out, sorted(path_keys)


def command(version_dir, version, env_string="", store_path=None):
    """The one shell command of a resident run. A node without the install answers ``resident_unusable``
    (:data:`NOT_INSTALLED`) from the shell (no Python started), with ``payload_stored`` (whether
    ``store_path`` exists) when ``store_path`` is given; the interpreter is the one recorded at install."""
    if store_path:
        answers = [shlex.quote(json.dumps({UNUSABLE_KEY: NOT_INSTALLED, "payload_stored": stored}))
                   for stored in (True, False)]
        missing = "{ test -f %s && echo %s || echo %s; exit 0; }" % (shlex.quote(store_path), answers[0], answers[1])
    else:
        missing = "{ echo %s; exit 0; }" % shlex.quote(json.dumps({UNUSABLE_KEY: NOT_INSTALLED}))
    return ('d=%s; read -r p 2>/dev/null <"$d/python" || %s; %s"$p" -I -S -c %s "$d" %s'
            % (shlex.quote(version_dir), missing, (env_string + " ") if env_string else "",
               shlex.quote(rn.BOOTSTRAP), shlex.quote(version)))


def first_command(version_dir, version, python, env_string=""):
    """The shell command of a first contact: ``python`` (the node's interpreter as Ansible would use it) runs
    ``resident_engine.FIRST_BOOTSTRAP`` (stdin: :func:`first_contact_stdin`, then the task)."""
    env = (env_string + " ") if env_string else ""
    return "%s%s -I -S -c %s %s %s" % (env, shlex.quote(python), shlex.quote(rn.FIRST_BOOTSTRAP),
                                       shlex.quote(version_dir), shlex.quote(version))


def parse_output(stdout):
    """The JSON object the bootstrap printed (the last line that is one; a login banner may come first),
    or None."""
    for line in reversed(to_text(stdout).splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return None


def inline_payload(src, size=None, check_mode=False):
    """The bytes of payload file ``src`` to send on the engine's stdin with its task, or None when it goes
    by the resumable transfer instead: larger than ``inline.INLINE_MAX``, or a check-mode run (which
    stores nothing on the node)."""
    if check_mode:
        return None
    size = os.path.getsize(src) if size is None else size
    if size > inline.INLINE_MAX:
        return None
    with open(src, "rb") as handle:
        data = handle.read(inline.INLINE_MAX + 1)
    return data if len(data) <= inline.INLINE_MAX else None


class EngineRunner(object):
    """Runs the node side of one task of ``action`` (an ActionBase): the resident engine when it is
    usable, else module ``module_name``. ``spec``/``constraints``: the module's argument spec."""

    def __init__(self, action, module_name, resident_action, task_vars, spec, constraints=None, enabled=True,
                 state_dir=None, share=None):
        self.action = action
        self.module_name = module_name
        self.resident_action = resident_action
        self.task_vars = task_vars
        self.spec, self.path_keys = node_spec(spec)
        self.constraints = constraints or {}
        self.layout = StateLayout.plain(state_dir)
        # async runs stay with the module (async_wrapper runs modules); a state dir the node must expand
        # cannot be named here.
        self.enabled = bool(enabled) and self.layout is not None and not action._task.async_val
        self.version = engine_version() if self.enabled else None
        self.version_dir = self.layout.engine_version_dir(self.version) if self.enabled else None
        # what this task learnt of the node's engine: usable, why not, first contact tried. One record per node
        # and task: ``share`` (another runner of the same task and state dir) shares its record, so that a
        # module run or a first contact of one runner that installs the engine makes the other use it too.
        self._engine = share._engine if share is not None else {"usable": None, "reason": None, "first_tried": False}
        self.inline_report = None
        """The engine's report on the payload sent with the last resident run (None: none sent)."""
        self.payload_stored = None
        """What the shell said when it answered "not installed": is the payload in the store (None: not asked)."""

    @property
    def usable(self):
        """None: not tried yet (or installed since); True: ran; False: fell back (then the module installs it)."""
        return self._engine["usable"]

    @usable.setter
    def usable(self, value):
        self._engine["usable"] = value

    @property
    def reason(self):
        """Why the engine was not used (the last time it could not be)."""
        return self._engine["reason"]

    @property
    def first_contact_ok(self):
        """The shell answered "not installed" and the first-contact bootstrap was not tried yet."""
        return bool(self.enabled and self.usable is False and self.reason == NOT_INSTALLED
                    and not self._engine["first_tried"])

    def run(self, module_args):
        """The node's result: resident when usable, else a first contact (:meth:`try_first_contact`), else
        the module's."""
        res = self.try_resident(module_args) if self.usable is not False else None
        if res is None and self.first_contact_ok:
            res = self.try_first_contact(module_args)
        return self.run_module(module_args) if res is None else res

    @staticmethod
    def detach_options(async_dir, time_limit, lookup, before=False):
        return {"async_dir": async_dir, "time_limit": int(time_limit), "lookup": bool(lookup), "before": bool(before)}

    def try_detached(self, module_args, async_dir, time_limit, lookup, payload=None, before=False):
        """``wait: true``'s start with ONE exec: the resident engine looks the payload up when ``lookup``
        (its result comes back when the payload is missing, nothing started), then starts the job detached
        and answers at once with async_wrapper's start result (``ansible_job_id``, ``results_file``; the
        status file is async_wrapper's, see ``module_utils/_honeycomb/detach.py``). None when the engine
        cannot be used here: then start the module under async_wrapper. ``payload``: as for :meth:`try_resident`.
        ``before``: the answer also carries ``before``, what ``upgrade_info`` says before the job (``installed``,
        ``boot``)."""
        return self.try_resident(module_args, detach=self.detach_options(async_dir, time_limit, lookup, before),
                                 payload=payload)

    def try_resident(self, module_args, detach=None, payload=None):
        """The resident engine's result, or None when it cannot be used here (then :meth:`try_first_contact`
        when :attr:`first_contact_ok`, else :meth:`run_module`). ``detach``: start the task detached (see
        :meth:`try_detached`). ``payload``: the payload's bytes, sent on the engine's stdin after the task
        (``module_utils/_honeycomb/inline.py``), which stores them before it runs the task; its report is
        then :attr:`inline_report` (``{"stored", "size", "msg"}``)."""
        self.inline_report = None
        if not self.enabled:
            return None
        task, validation = self._task(module_args, detach)
        if task is None:
            return None
        cmd = command(self.version_dir, self.version, self.action._compute_environment_string(),
                      store_path=self._store_path(task))
        out = self.action._low_level_execute_command(cmd, in_data=inline.frame(task, payload))
        return self._result(out, validation, first=False)

    def try_first_contact(self, module_args, detach=None, payload=None):
        """First contact (the shell answered "not installed"): ONE exec that sends the engine's sources
        (compressed, ~75 KB) with the task to ``FIRST_BOOTSTRAP``, which runs the task from memory and then
        installs the engine as a module run would (``resident_engine.install_after_run``). No AnsiballZ, no
        Ansible code on the node. ``detach``/``payload``: as for :meth:`try_resident`. None when it cannot
        be used (no Python 3.6+ under the name Ansible uses, the sources do not load): then the module."""
        self.inline_report = None
        if not self.first_contact_ok:
            return None
        self._engine["first_tried"] = True
        task, validation = self._task(module_args, detach)
        if task is None:
            return None
        python = transfer.node_python(self.task_vars, getattr(self.action, "_templar", None))
        cmd = first_command(self.version_dir, self.version, python, self.action._compute_environment_string())
        # through the action's _execute_first_contact when it has one (upgrade's: traffic.py counts the engine's
        # code there as it counts a module's)
        execute = getattr(self.action, "_execute_first_contact", self.action._low_level_execute_command)
        out = execute(cmd, in_data=first_contact_stdin() + inline.frame(task, payload))
        return self._result(out, validation, first=True)

    def _task(self, module_args, detach):
        """The task for the engine and its validation, or (None, None) when the arguments do not validate."""
        validation = ArgumentSpecValidator(self.spec, **self.constraints).validate(
            dict((k, v) for k, v in module_args.items() if not k.startswith("_ansible")))
        if validation.error_messages:  # the module reports bad arguments in its own words
            self._unusable("the arguments do not validate: %s" % "; ".join(validation.error_messages))
            return None, None
        task = {"action": self.resident_action, "params": validation.validated_parameters,
                "check_mode": bool(self.action._task.check_mode), "path_keys": self.path_keys}
        if detach is not None:  # the job's result is read from its file: the node masks the no_log values
            task["detach"] = dict(detach, secrets=sorted(validation._no_log_values))
        return task, validation

    def _store_path(self, task):
        """The store entry of an upgrade's payload (the shell tells whether it exists when it answers
        "not installed"), or None."""
        sha = ((task["params"].get("_honeycomb") or {}).get("payload_sha256") or "").lower()
        return self.layout.payload_path(sha) if self.resident_action == "upgrade" and sha else None

    def _result(self, out, validation, first):
        """The task result from the bootstrap's output, or None (with :attr:`usable` False) when it says
        the engine cannot be used."""
        data = parse_output(out.get("stdout"))
        what = "node-resident engine %s%s" % (self.version_dir, " (first contact)" if first else "")
        if data is not None and UNUSABLE_KEY in data:
            if not first:
                self.payload_stored = data.get("payload_stored")
            return self._unusable(data[UNUSABLE_KEY] if not first else "first contact: %s" % data[UNUSABLE_KEY])
        if data is not None and isinstance(data.get(RESULT_KEY), dict):
            result = dict(data[RESULT_KEY])
            self.inline_report = result.pop(rn.INLINE_KEY, None)
            if first:
                self.usable = self._installed(result.pop(INSTALL_KEY, None))
            else:
                self.usable = True
            display.vvv("honeycomb: %s ran %s" % (what, self.resident_action))
            if result.get("failed"):
                result["failed"] = True
            return remove_values(result, validation._no_log_values)
        stderr = to_text(out.get("stderr")).strip()
        # the (recorded) interpreter is gone or there is none by that name; or (first contact) it is a Python 2,
        # which refuses -I before running anything
        if out.get("rc") in (126, 127) or (first and out.get("rc") == 2 and "Unknown option: -I" in stderr):
            return self._unusable("%sits interpreter cannot be run (rc %s): %s" % (
                "first contact: " if first else "", out.get("rc"), stderr[-300:]))
        # The engine started and died (killed, out of memory): report it as a module failure would be;
        # never run the task a second time.
        if not first:
            self.usable = True
        return {"failed": True, "changed": False, "rc": out.get("rc"),
                "msg": "the %s failed without a result (rc %s): %s" % (
                    what, out.get("rc"), to_text(out.get("stderr")).strip()[-2000:]),
                "module_stdout": to_text(out.get("stdout"))[-2000:], "module_stderr": to_text(out.get("stderr"))[-2000:]}

    @staticmethod
    def _installed(report):
        """Whether a run's install report (``resident_install``) left the engine usable; reported as the
        module's is."""
        if not report:
            return False
        if report.get("install") == "failed":
            display.warning("could not install the node-resident engine: %s" % report.get("msg"))
            return False
        display.vv("honeycomb: node-resident engine %s %s" % (report.get("version", "")[:12], report.get("install")))
        return report.get("install") in ("installed", "present")

    def _unusable(self, reason):
        self._engine.update(usable=False, reason=reason)
        display.vv("honeycomb: node-resident engine %s not used (%s)" % (self.version[:12], reason))
        return None

    def run_module(self, module_args):
        """The module's result; it installs the resident engine afterwards when it is enabled here."""
        args = dict(module_args)
        if self.enabled:
            args["_honeycomb"] = dict(args.get("_honeycomb") or {}, resident={"version": self.version})
        res = self.action._execute_module(module_name=self.module_name, module_args=args, task_vars=self.task_vars)
        report = res.pop(INSTALL_KEY, None)
        if self._installed(report) and report.get("version") == self.version:
            self.usable = None  # the next run tries the engine this run installed
        return res
