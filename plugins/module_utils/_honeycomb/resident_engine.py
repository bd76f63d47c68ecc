# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The node-resident engine: ``upgrade`` and ``upgrade_info`` without a module start (runs on nodes,
Python 3.6+, stdlib only; the controller side is ``plugins/plugin_utils/_honeycomb/resident.py``).

The engine's code (this file and every ``_honeycomb`` module it imports, see :func:`bundle`) is
installed on the node once, under the state dir (``layout.StateLayout.engine_version_dir``), named by
the SHA-256 of its sources (:func:`bundle_hash`), compiled for the node's Python into one marshal file::

    engine/<version>/engine.bin      marshal.dumps({module name: code object})
    engine/<version>/python          the interpreter that compiled it (the one that runs it)
    engine/<version>/manifest.json   format, version, the interpreter and its bytecode magic,
                                     the SHA-256 of engine.bin, the module names

A module run installs it (:func:`install_after_run`) when the action plugin asks (``_honeycomb.resident``),
with the sources the module run already has: no extra bytes sent. Afterwards the action plugin runs
:data:`BOOTSTRAP` with ``python -I -S -c``: it checks the manifest (version, interpreter, magic) and
the SHA-256 of ``engine.bin`` *before* executing any of it, then serves the modules from the verified
bytes (never from files that could change in between) and calls :func:`main`, which reads the task
(JSON on stdin) and writes the result (JSON on stdout). An install that does not verify is never run:
the bootstrap answers ``resident_unusable`` and the action plugin falls back to the module, which
installs it again.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import hashlib
import json
import marshal
import os
import pkgutil
import shutil
import sys
import time
import traceback
import zlib
from importlib.util import MAGIC_NUMBER

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import controller_options
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import detach
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import info
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import inline
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner

FORMAT = 1
"""Version of the install format (files, manifest, bootstrap protocol); part of the engine version."""
PACKAGE = "ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb"
ENTRY = "resident_engine"
MARSHAL_VERSION = 2
"""marshal format of ``engine.bin``: version 2 writes no back-references, whose use depends on the reference
counts in the writing process, so the bytes are the same whether a module run or the first-contact bootstrap
compiled them (about 20 % larger than version 4, loaded 0.5 ms slower)."""
KEEP_VERSIONS = 3
"""Installed versions kept (the newest by install time): controllers of two collection versions do not
reinstall in turn."""

RESIDENT_OPTIONS = dict(resident_engine=dict(type="bool", default=True))
"""The task option of ``upgrade``/``upgrade_info`` (the action plugin's; the modules only declare it)."""


def _import_statements(source):
    """The text of each ``from <package>...`` statement in ``source``, dedented, with the continuation lines of
    a parenthesised or backslash-continued name list: the only parts :func:`imports_of` needs to parse (parsing
    whole sources with :mod:`ast` cost tens of ms per task on the controller, where every task's worker
    computes the engine version)."""
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        stripped = line.lstrip()
        if not stripped.startswith("from " + PACKAGE):
            continue
        statement = [stripped]
        depth = stripped.split("#", 1)[0].count("(") - stripped.split("#", 1)[0].count(")")
        while i < len(lines) and (depth > 0 or statement[-1].split("#", 1)[0].rstrip().endswith("\\")):
            code = lines[i].split("#", 1)[0]
            depth += code.count("(") - code.count(")")
            statement.append(lines[i].strip())
            i += 1
        yield "\n".join(statement)


def imports_of(source):
    """Names of the ``_honeycomb`` modules a module's source imports (``from <pkg> import x [as y], ...``
    and ``from <pkg>.x import ...``, parenthesised lists included), read with :mod:`ast` from the import
    statements only."""
    names = []
    for statement in _import_statements(source):
        for node in ast.parse(statement).body:
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module == PACKAGE:
                names.extend(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                names.append(node.module[len(PACKAGE) + 1:].split(".")[0])
    return names


def read_source(name):
    """The source of ``_honeycomb`` module ``name`` through its package's loader (the collection on the
    controller, the AnsiballZ zip in a module run), or None when there is no such module."""
    try:
        return pkgutil.get_data(PACKAGE, name + ".py")
    except (IOError, OSError):
        return None


def bundle(read=read_source):
    """[(module name, source bytes)] of the resident engine: :data:`ENTRY` and every ``_honeycomb`` module
    it imports, directly or not, by name."""
    found = {}
    todo = [ENTRY]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        source = read(name)
        if source is None:
            if name == ENTRY:
                raise ValueError("the resident engine's entry %s.%s is not readable" % (PACKAGE, ENTRY))
            continue  # an imported name that is not a module (a class or function of the package)
        found[name] = source
        todo.extend(imports_of(source))
    return sorted(found.items())


def bundle_hash(sources):
    """The engine version: SHA-256 over the install format and every (name, source)."""
    digest = hashlib.sha256(("honeycomb-resident-engine %d\n" % FORMAT).encode("ascii"))
    for name, source in sources:
        digest.update(("%s %d\n" % (name, len(source))).encode("utf-8"))
        digest.update(source)
    return digest.hexdigest()


def python_magic():
    """The bytecode magic of this interpreter (hex)."""
    return MAGIC_NUMBER.hex()


# ---------------------------------------------------------------------------------------------- install
def compile_sources(sources, version_dir):
    """{module name: code} of ``sources`` as installed in ``version_dir`` (FIRST_BOOTSTRAP compiles the same
    way)."""
    return dict(("%s.%s" % (PACKAGE, name), compile(source, os.path.join(version_dir, name + ".py"), "exec",
                                                    dont_inherit=True))
                for name, source in sources)


def verify(version_dir, version, python=None):
    """None when the install in ``version_dir`` is complete and intact for ``version`` and interpreter
    ``python`` (default: this one), else why not. The bootstrap makes the same checks before each run."""
    python = python or sys.executable
    try:
        with open(lo.StateLayout.engine_manifest_path(version_dir)) as handle:
            manifest = json.load(handle)
        with open(lo.StateLayout.engine_code_path(version_dir), "rb") as handle:
            code = handle.read()
        with open(lo.StateLayout.engine_python_path(version_dir)) as handle:
            recorded = handle.read().strip()
    except (IOError, OSError, ValueError) as exc:
        return "not installed or unreadable (%s)" % exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("version") != version:
        return "the manifest is of another format or version"
    if manifest.get("python") != python or recorded != python or manifest.get("magic") != python_magic():
        return "compiled for another interpreter (%s)" % manifest.get("python")
    if hashlib.sha256(code).hexdigest() != manifest.get("sha256"):
        return "engine.bin does not match the SHA-256 in its manifest"
    return None


def _write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def install(state_dir, version, sources=None, python=None, blob=None):
    """Install the engine of ``version`` under ``state_dir`` unless an intact one is there.

    ``sources`` default to :func:`bundle` (what this process runs); their hash must be ``version`` (a
    module run of another collection version never installs under a name that is not its own). Written
    into a temporary dir, fsynced and renamed into place; a damaged install of the same version is
    replaced. ``blob``: ``engine.bin`` made already from ``sources`` as this function makes it (compiled
    with the same file names, marshalled with :data:`MARSHAL_VERSION`, so the bytes are the same; the
    first-contact bootstrap ran the task with those codes). Returns ``{"install": "present"|"installed",
    "version", "path"}``; raises ValueError or OSError when it cannot."""
    python = python or sys.executable
    layout = lo.StateLayout(state_dir)
    target = layout.engine_version_dir(version)
    if verify(target, version, python) is None:
        return {"install": "present", "version": version, "path": target}
    sources = bundle() if sources is None else sources
    if bundle_hash(sources) != version:
        raise ValueError("the engine code of this module run is version %s, not %s" % (bundle_hash(sources), version))
    if not os.path.isdir(layout.root):
        raise ValueError("the state dir %s does not exist" % layout.root)
    if blob is None:
        blob = marshal.dumps(compile_sources(sources, target), MARSHAL_VERSION)
    if not os.path.isdir(layout.engine_dir):
        os.mkdir(layout.engine_dir, 0o700)
    tmp = layout.engine_install_dir(version)
    shutil.rmtree(tmp, ignore_errors=True)
    os.mkdir(tmp, 0o700)
    try:
        _write(lo.StateLayout.engine_code_path(tmp), blob)
        _write(lo.StateLayout.engine_python_path(tmp), (python + "\n").encode("utf-8"))
        manifest = {"format": FORMAT, "version": version, "python": python, "magic": python_magic(),
                    "sha256": hashlib.sha256(blob).hexdigest(), "modules": [name for name, dummy in sources],
                    "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write(lo.StateLayout.engine_manifest_path(tmp), json.dumps(manifest, sort_keys=True).encode("utf-8"))
        if os.path.lexists(target):  # damaged, or of another interpreter: replace it
            old = tmp + ".old"
            os.rename(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    prune(layout, keep=version)
    return {"install": "installed", "version": version, "path": target}


def prune(layout, keep):
    """Remove installs beyond the :data:`KEEP_VERSIONS` newest (never ``keep``) and leftovers of
    interrupted installs whose process is gone."""
    versions = []
    for name in layout.engine_entries():
        path = os.path.join(layout.engine_dir, name)
        if name.startswith(lo.ENGINE_INSTALL_PREFIX):
            pid = name.split(".")[1].rsplit("-", 1)[-1] if "-" in name else ""
            if pid.isdigit() and int(pid) != os.getpid() and not os.path.exists("/proc/%s" % pid):
                shutil.rmtree(path, ignore_errors=True)
            continue
        if name != keep:
            try:
                versions.append((os.stat(path).st_mtime, path))
            except OSError:
                pass
    for dummy, path in sorted(versions, reverse=True)[KEEP_VERSIONS - 1:]:
        shutil.rmtree(path, ignore_errors=True)


def pop_install_request(params):
    """Take the action plugin's options out of a module's ``params``: ``resident_engine`` and the install
    request ``_honeycomb.resident`` (``{"version": ...}``), which is returned (or None)."""
    params.pop("resident_engine", None)
    internal = dict(params.get("_honeycomb") or {})
    request = internal.pop("resident", None)
    if "_honeycomb" in params:
        params["_honeycomb"] = internal
    return request if isinstance(request, dict) and request.get("version") else None


def install_after_run(state_dir, request, result, check_mode=False, sources=None, blob=None):
    """After a module run (or a first-contact run, :func:`main_first`): install the engine the action plugin
    asked for when the run did not fail and the state dir exists (a refused run or a check-mode run leaves
    nothing new behind). The outcome goes into ``result["resident_install"]``, which the action plugin takes
    out of the task result. ``sources``/``blob``: as for :func:`install`."""
    if not request or check_mode or result.get("failed") or not state_dir or not os.path.isdir(state_dir):
        return
    try:
        result["resident_install"] = install(state_dir, request["version"], sources=sources, blob=blob)
    except (IOError, OSError, ValueError, SyntaxError) as exc:
        result["resident_install"] = {"install": "failed", "version": request["version"], "msg": str(exc)}


def run_module(module, params, run):
    """A module run of ``upgrade`` or ``upgrade_info`` (the resident engine runs them through
    :func:`run_task`), from its ``params``: the install request taken out of them
    (:func:`pop_install_request`), ``run(params)`` for the result, the engine installed after it as asked
    (:func:`install_after_run`), then the module ends: ``fail_json`` when the result says ``failed``,
    else ``exit_json``."""
    install = pop_install_request(params)
    result = run(params)
    install_after_run(params.get("state_dir"), install, result, check_mode=module.check_mode)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


# ---------------------------------------------------------------------------------------------- run
def run_upgrade(params, check_mode):
    """The ``upgrade`` module's work for validated ``params`` (module run and resident engine)."""
    try:
        params = engine.engine_params(controller_options.without_controller_options(params))
    except ValueError as exc:
        return {"failed": True, "msg": str(exc)}
    return engine.Engine(params, check_mode=check_mode).run()


def start_detached(params, check_mode, options):
    """``wait: true``'s start, resident: the payload looked up in the store first (``options["lookup"]``:
    its result is returned when the payload is missing or the look-up fails, and nothing is started),
    then the job detached (``detach.start``: async_wrapper's status file and start result). ``options``:
    ``async_dir``, ``time_limit``, ``lookup``, ``secrets`` (the no_log values to mask in the result),
    ``before``: add ``before`` to the answer, what ``upgrade_info`` would say before the job (``installed``,
    ``boot``), which saves the controller a look of its own."""
    before = None
    if options.get("before"):
        query = {"state_dir": params.get("state_dir") or lo.DEFAULT_STATE_DIR, "limit": 0}
        for key in ("boot_slot_command", "recovery_slot"):
            if params.get(key) is not None:
                query[key] = params[key]
        look = info.collect(query)
        before = {"installed": {} if look.get("failed") else look.get("installed") or {}, "boot": look.get("boot")}
    if options.get("lookup"):
        internal = dict(params.get("_honeycomb") or {}, lookup_only=True)
        look = run_upgrade(dict(params, _honeycomb=internal), check_mode)
        if look.get("failed") or look.get("payload_missing"):
            if before is not None:
                look["before"] = before
            return look
        notes = look.get("notes")
    else:
        notes = None

    def work():
        runner.install_signal_handlers()
        return run_upgrade(params, check_mode)

    started = detach.start(work, options.get("async_dir") or "~/.ansible_async", int(options.get("time_limit") or 0),
                           options.get("secrets") or ())
    if notes:
        started["notes"] = notes
    if before is not None:
        started["before"] = before
    return started


INLINE_KEY = "resident_inline"
"""Key of the result that reports a payload received on stdin (``{"stored", "size", "msg"}``); the
controller takes it out of the task result."""


def store_inline(task, params, stream):
    """Take the payload that follows the task on stdin (``task["payload"]``, see ``inline.py``) before an
    ``upgrade`` runs: an upload next to the store that the run moves into it (``params`` say so, as after a
    transfer). Returns None when there is none, else the report for :data:`INLINE_KEY` (``stored`` False:
    a failure, nothing left behind) with the upload's ``path``."""
    internal = dict(params.get("_honeycomb") or {})
    try:
        head = inline.header(task, internal.get("payload_sha256"))
        if head is None:
            return None
        if task.get("action") != "upgrade" or task.get("check_mode"):
            raise inline.InlineError("a payload on stdin is only taken by an upgrade run outside check mode")
        size, sha = head
        path = inline.receive(stream, size, sha, params.get("state_dir") or lo.DEFAULT_STATE_DIR)
    except (inline.InlineError, IOError, OSError) as exc:
        return {"stored": False, "msg": "the payload sent with the task could not be stored on the node: %s" % exc}
    params["_honeycomb"] = dict(internal, payload_upload=path, payload_transferred=True, payload_bytes_sent=size)
    if isinstance(task.get("detach"), dict):  # the start's look-up takes it into the store, before the job runs
        task["detach"] = dict(task["detach"], lookup=True)
    return {"stored": True, "size": size, "path": path}


def run_task(task, stream=None):
    """The result of one task given to the resident engine: ``{"action": "upgrade"|"upgrade_info",
    "params": {...}, "check_mode": bool, "path_keys": [...]}``, and ``"payload": {"size", "sha256"}``
    when the payload's bytes follow on ``stream`` (``inline.py``). The controller validated ``params``
    against the module's argument spec; options of type ``path`` are expanded here, on the node, as
    the module does."""
    params = dict(task.get("params") or {})
    for key in task.get("path_keys") or []:
        if isinstance(params.get(key), str):
            params[key] = os.path.expanduser(os.path.expandvars(params[key]))
    received = store_inline(task, params, stream)
    if received is not None and not received["stored"]:
        return {"failed": True, "changed": False, "msg": received["msg"], "payload_transferred": False,
                "payload_bytes_sent": 0, INLINE_KEY: received}
    try:
        result = _dispatch(task, params)
    finally:
        if received is not None:  # a run refused before it took the upload into the store leaves no payload
            inline.discard(received.pop("path"))
    if received is not None:
        result[INLINE_KEY] = received
    return result


def _dispatch(task, params):
    action = task.get("action")
    if action == "upgrade" and isinstance(task.get("detach"), dict):
        pop_install_request(params)
        return start_detached(params, bool(task.get("check_mode")), task["detach"])
    if action == "upgrade":
        runner.install_signal_handlers()
        pop_install_request(params)
        return run_upgrade(params, bool(task.get("check_mode")))
    if action == "upgrade_info":
        pop_install_request(params)
        return info.collect(params)
    return {"failed": True, "msg": "the resident engine does not run %r" % (action,)}


def main(version_dir):
    """Entry point of the bootstrap: one task as a JSON line on stdin (then the payload's bytes when the task
    announces them, see ``inline.py``), ``{"resident_result": result}`` on stdout."""
    try:
        task = inline.read_task(sys.stdin.buffer)
        result = run_task(task, sys.stdin.buffer)
    except Exception as exc:  # pylint: disable=broad-except
        result = {"failed": True, "msg": "the node-resident engine in %s failed: %s" % (version_dir, exc),
                  "exception": traceback.format_exc()}
    sys.stdout.write(json.dumps({"resident_result": result}, default=str))
    sys.stdout.flush()


def main_first(version_dir, version, sources, blob):
    """Entry point of :data:`FIRST_BOOTSTRAP` (first contact: the engine's sources came on stdin and run from
    memory): the task as :func:`main` reads it, then the install of this version as after a module run
    (:func:`install_after_run`, the same checks, format and manifest), its outcome in the result's
    ``resident_install``."""
    try:
        task = inline.read_task(sys.stdin.buffer)
        result = run_task(task, sys.stdin.buffer)
        params = task.get("params") or {}
        install_after_run(params.get("state_dir"), {"version": version}, result,
                          check_mode=bool(task.get("check_mode")), sources=sources, blob=blob)
    except Exception as exc:  # pylint: disable=broad-except
        result = {"failed": True, "msg": "the node-resident engine %s (first contact) failed: %s" % (version_dir, exc),
                  "exception": traceback.format_exc()}
    sys.stdout.write(json.dumps({"resident_result": result}, default=str))
    sys.stdout.flush()


def first_contact_stdin(sources):
    """What :data:`FIRST_BOOTSTRAP` reads first from its stdin: a JSON line ``{"size", "sha256"}``, then that
    many bytes, the engine's sources (:func:`bundle`) as zlib-compressed JSON ``{name: source text}``. The
    task (``inline.frame``) follows."""
    blob = zlib.compress(json.dumps(dict((name, source.decode("utf-8")) for name, source in sources),
                                    sort_keys=True).encode("utf-8"), 9)
    head = {"size": len(blob), "sha256": hashlib.sha256(blob).hexdigest()}
    return json.dumps(head).encode("utf-8") + b"\n" + blob


_BOOTSTRAP_HEAD = r"""
import sys, json, hashlib, marshal
import _frozen_importlib_external as ext
from importlib.machinery import ModuleSpec
d, v = sys.argv[1], sys.argv[2]
def unusable(why):
    sys.stdout.write(json.dumps({"resident_unusable": why}))
    sys.exit(0)
"""
_BOOTSTRAP_LOAD = r"""
P = "%(package)s"
class Finder(object):
    def find_spec(self, name, path=None, target=None):
        if name in code:
            return ModuleSpec(name, self)
        if (P + ".").startswith(name + "."):
            return ModuleSpec(name, self, is_package=True)
        return None
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        c = code.get(module.__name__)
        if c is not None:
            exec(c, module.__dict__)
sys.meta_path.insert(0, Finder())
""" % {"package": PACKAGE}

BOOTSTRAP = _BOOTSTRAP_HEAD + r"""try:
    with open(d + "/manifest.json") as f:
        m = json.load(f)
    with open(d + "/engine.bin", "rb") as f:
        b = f.read()
except (OSError, ValueError) as e:
    unusable("unreadable: %%s" %% e)
if not isinstance(m, dict) or m.get("format") != %(format)d or m.get("version") != v:
    unusable("another format or version")
if m.get("python") != sys.executable or m.get("magic") != ext.MAGIC_NUMBER.hex():
    unusable("compiled for another interpreter")
if hashlib.sha256(b).hexdigest() != m.get("sha256"):
    unusable("engine.bin does not match its manifest")
code = marshal.loads(b)
""" % {"format": FORMAT} + _BOOTSTRAP_LOAD + r"""__import__(P + ".%(entry)s")
sys.modules[P + ".%(entry)s"].main(d)
""" % {"entry": ENTRY}
"""Run on the node with ``python -I -S -c BOOTSTRAP <version dir> <version>`` (the controller builds the
command: ``plugins/plugin_utils/_honeycomb/resident.py``)."""

FIRST_BOOTSTRAP = r"""
import sys, json
def unusable(why):
    sys.stdout.write(json.dumps({"resident_unusable": why}))
    sys.exit(0)
if sys.version_info < (3, 6):
    unusable("Python %%d.%%d is older than 3.6" %% sys.version_info[:2])
import hashlib, marshal, os, zlib
from importlib.machinery import ModuleSpec
d, v = sys.argv[1], sys.argv[2]
try:
    i = sys.stdin.buffer
    h = json.loads(i.readline().decode("utf-8"))
    z = i.read(h["size"])
    if len(z) != h["size"] or hashlib.sha256(z).hexdigest() != h["sha256"]:
        raise ValueError("they arrived incomplete or altered")
    S = sorted((n, t.encode("utf-8")) for n, t in json.loads(zlib.decompress(z).decode("utf-8")).items())
    P = "%(package)s"
    code = dict((P + "." + n, compile(t, os.path.join(d, n + ".py"), "exec", dont_inherit=True)) for n, t in S)
    B = marshal.dumps(code, %(marshal)d)
except Exception as e:
    unusable("the engine's sources sent with the task could not be loaded: %%s" %% e)
""" % {"package": PACKAGE, "marshal": MARSHAL_VERSION} + _BOOTSTRAP_LOAD + r"""try:
    __import__(P + ".%(entry)s")
except Exception as e:
    unusable("the engine sent with the task could not be loaded: %%s" %% e)
sys.modules[P + ".%(entry)s"].main_first(d, v, S, B)
""" % {"entry": ENTRY}
"""First contact (no install of this version on the node): run with ``python -I -S -c FIRST_BOOTSTRAP
<version dir> <version>``, stdin :func:`first_contact_stdin` then the task. It compiles the engine from the
sources it was sent, runs the task from memory and installs the engine (:func:`main_first`); nothing of
Ansible is needed on the node."""
