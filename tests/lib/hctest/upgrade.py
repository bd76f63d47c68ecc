"""Helpers of the upgrade-engine tests: build small payloads whose scripts count their own runs.

``make_payload(tmp, name, version, scripts={...}, **manifest_options)`` writes the scripts into a
source dir and builds a v2 payload with the collection's deterministic builder. Every script starts
with a prologue that appends ``<phase> <attempt> <job id>`` to ``<tmp>/runs.log`` (or ``runs_log``) so a
test can prove what ran how often (``runs(tmp)`` -> list of (phase, attempt) and ``count(tmp, phase)``).
``make_legacy_payload`` builds a 2021-format payload (metadata.json + md5sum.chk) the way the 2021
``build_upgrade.sh`` did.
"""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build

PHASE_FILES = {
    "state_check": "hc_state_check.sh",
    "install": "hc_install_upgrade.sh",
    "verify": "hc_verify_upgrade.sh",
    "rollback": "hc_rollback_upgrade.sh",
}

DEFAULT_SCRIPTS = {"state_check": "exit 0", "install": "exit 0", "verify": "exit 0"}


def prologue(runs_log):
    return ('#!/bin/sh\necho "$HC_PHASE $HC_ATTEMPT $HC_JOB_ID" >> %s\n' % runs_log)


def write_scripts(src, scripts, runs_log):
    src.mkdir(parents=True, exist_ok=True)
    merged = dict(DEFAULT_SCRIPTS)
    merged.update(scripts or {})
    for phase, body in merged.items():
        if body is None:
            continue
        path = src / PHASE_FILES[phase]
        path.write_text(prologue(runs_log) + body + "\n")
        path.chmod(0o755)
    return merged


def make_payload(tmp, name="demo", version="1.0", scripts=None, runs_log=None, extra_files=None, sign_key=None,
                 **options):
    """Build ``<tmp>/<name>-<version>.tar.gz``; returns its path. ``options`` go into the manifest
    (peripheral, timeouts, retries, backup_paths, restart_units, parameters, state_check_codes)."""
    tmp = Path(tmp)
    runs_log = runs_log or str(tmp / "runs.log")
    src = tmp / ("src-%s-%s" % (name, version))
    write_scripts(src, scripts, runs_log)
    for rel, content in (extra_files or {}).items():
        (src / rel).write_text(content)
    opts = {"name": name, "version": version, "peripheral": options.pop("peripheral", name)}
    opts.update(options)
    dest = tmp / ("%s-%s.tar.gz" % (name, version))
    build.build_payload(str(src), str(dest), options=opts, sign_key=sign_key)
    return str(dest)


def make_legacy_payload(tmp, name="quickstart", version="1.0.0", scripts=None, runs_log=None, retries=0,
                        peripheral="quickstart"):
    """A 2021 Honeycomb payload: metadata.json, md5sum.chk (with its stale self-entry), three scripts,
    members without ./ prefix, like build_upgrade.sh made them."""
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    runs_log = runs_log or str(tmp / "runs.log")
    merged = dict(DEFAULT_SCRIPTS)
    merged.update(scripts or {})
    files = {}
    for phase in ("state_check", "install", "verify", "rollback"):  # no rollback script in the 2021 format,
        if merged.get(phase) is not None:                          # but a payload may carry one
            files[PHASE_FILES[phase]] = (prologue(runs_log) + merged[phase] + "\n").encode()
    meta = {"upgrade_name": name, "peripheral_name": peripheral, "config_version": version,
            "retry_state_check": retries, "retry_install": retries, "retry_verify": retries}
    files["metadata.json"] = json.dumps(meta).encode()
    lines = ["%s  ./%s" % (hashlib.md5(data).hexdigest(), n) for n, data in sorted(files.items())]
    lines.append("b4c449b495d1560f5954e86d9aeceb57  ./md5sum.chk")
    files["md5sum.chk"] = ("\n".join(lines) + "\n").encode()
    dest = tmp / ("%s.tar.gz" % name)
    with tarfile.open(str(dest), "w:gz") as tar:
        for member, data in sorted(files.items()):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mode = 0o755 if member.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return str(dest)


def runs(tmp_or_log):
    path = Path(tmp_or_log)
    if path.is_dir():
        path = path / "runs.log"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts:
            out.append((parts[0], int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None))
    return out


def count(tmp_or_log, phase):
    return sum(1 for p, _a in runs(tmp_or_log) if p == phase)


def engine_params(state_dir, **overrides):
    """Module params (defaults of the argument spec) for calling the engine directly in unit tests."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine
    params = engine.engine_params(dict((k, v.get("default")) for k, v in engine.argument_spec().items()))
    params.update(src="unused", state_dir=str(state_dir), kill_grace=1,
                  node_id_file=os.devnull, vsn_file=os.devnull)
    params.update(overrides)
    return params


UPLOAD_NAME = "upload.tar.gz"
"""Where :func:`run_engine` puts the payload in ``tmp``, as the action plugin's upload would."""


def run_engine(tmp, state_dir, payload_path, check_mode=False, **params):
    """Run the engine in-process on ``payload_path`` the way the module does once the action plugin has
    uploaded it (to ``<tmp>/`` :data:`UPLOAD_NAME`), with state in ``state_dir``; returns the engine's result."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine, payload
    upload = str(Path(tmp) / UPLOAD_NAME)
    shutil.copyfile(str(payload_path), upload)
    p = engine_params(state_dir, _payload_sha256=payload.sha256_file(str(payload_path)), _payload_upload=upload,
                      **params)
    return engine.Engine(p, check_mode=check_mode).run()


class PowerCut(BaseException):
    """What a test's runner raises to die like a power cut: a BaseException the engine does not catch."""


class EngineEnv:
    """A node's state and target dirs under ``tmp``, and the engine called in-process the way the module
    calls it once the action plugin has uploaded the payload (``run``)."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.state = self.tmp / "state"
        self.target = self.tmp / "target"
        self.upload = self.tmp / UPLOAD_NAME
        self.target.mkdir()

    def run(self, payload_path, check_mode=False, **params):
        return run_engine(self.tmp, self.state, payload_path, check_mode=check_mode, **params)

    def jobs(self):
        from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal
        return journal.StateDir(str(self.state)).list_jobs()

    def reboot(self):
        """What a power cut leaves: owners from the previous boot; the lock died with its holder."""
        for job in self.jobs():
            if not job.terminal:
                job.data["owner"] = dict(job.data.get("owner") or {}, boot_id="previous-boot")
                job.save()


def power_cut_at(monkeypatch, phase, after_script=False, times=1):
    """Make the next ``times`` runs of ``phase`` die like a power cut (before or after the script ran)."""
    from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import runner
    real = runner.run_script
    left = {"n": times}

    def fake(script, cwd, env, *args, **kwargs):
        if env.get("HC_PHASE") == phase and left["n"] > 0:
            left["n"] -= 1
            if after_script:
                real(script, cwd, env, *args, **kwargs)
            raise PowerCut()
        return real(script, cwd, env, *args, **kwargs)
    monkeypatch.setattr(runner, "run_script", fake)


def crash(env, monkeypatch, payload, phase, after_script=False, **params):
    """Run ``payload`` in ``env`` (an EngineEnv) and cut the power in ``phase``; then reboot."""
    import pytest
    power_cut_at(monkeypatch, phase, after_script)
    with pytest.raises(PowerCut):
        env.run(payload, **params)
    monkeypatch.undo()
    env.reboot()


def dead_pid():
    """The pid of a process that has already exited (an owner that crashed)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def age(path, seconds):
    """Move ``path``'s mtime ``seconds`` into the past."""
    old = os.path.getmtime(str(path)) - seconds
    os.utime(str(path), (old, old))
