# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshot and restore of a payload's ``backup_paths``; processes holding them; unit stop/start
(runs on nodes, Python 3.6+).

A snapshot copies every path into ``<job_dir>/backup/data/<n>`` preserving modes, owners, times and
symlinks (links are copied as links, never followed) and records paths that did not exist, so that a
restore removes what the install created there.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import stat
import subprocess

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr

# sd_booted(3): this directory exists only when systemd is the running init. Read at call time, so tests
# point it at a directory of their own.
SYSTEMD_RUN_DIR = "/run/systemd/system"
SYSTEMCTL_DIRS = ("/bin", "/usr/bin", "/sbin", "/usr/sbin")


def _copy_meta(src_st, dst, is_link=False):
    try:
        os.lchown(dst, src_st.st_uid, src_st.st_gid)
    except OSError:
        pass
    if not is_link:
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
        os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns))


def copy_entry(src, dst, skipped):
    """Copy ``src`` to ``dst`` (which must not exist) without following links."""
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        _copy_meta(st, dst, is_link=True)
    elif stat.S_ISDIR(st.st_mode):
        os.mkdir(dst, 0o700)
        for name in sorted(os.listdir(src)):
            copy_entry(os.path.join(src, name), os.path.join(dst, name), skipped)
        _copy_meta(st, dst)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
        _copy_meta(st, dst)
    else:
        skipped.append(src)


def _remove(path):
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def index_path(backup_dir):
    """The index of the snapshot in ``backup_dir``: present once the snapshot is complete."""
    return os.path.join(backup_dir, "index.json")


def snapshot(paths, backup_dir):
    """Copy ``paths`` into ``backup_dir`` (created fresh). Returns the index (also saved as
    ``backup_dir/index.json``): a list of {path, exists, type, copy}."""
    jr.remove_tree(backup_dir)
    data_dir = os.path.join(backup_dir, "data")
    jr.makedirs_private(data_dir)
    index = []
    skipped = []
    for number, path in enumerate(paths):
        entry = {"path": path, "exists": os.path.lexists(path), "copy": None, "type": None}
        if entry["exists"]:
            mode = os.lstat(path).st_mode
            entry["type"] = "link" if stat.S_ISLNK(mode) else "directory" if stat.S_ISDIR(mode) else "file"
            entry["copy"] = os.path.join(data_dir, str(number))
            copy_entry(path, entry["copy"], skipped)
        index.append(entry)
    jr.atomic_write_json(index_path(backup_dir), {"entries": index, "skipped": skipped})
    return index


def restore(backup_dir):
    """Put every snapshotted path back (and remove paths that did not exist at snapshot time).
    Returns {"restored": [...], "removed": [...], "errors": [...], "skipped": [...]}."""
    data = jr.read_json(index_path(backup_dir))
    result = {"restored": [], "removed": [], "errors": [], "skipped": []}
    if not data:
        result["errors"].append("no usable snapshot index in %s" % backup_dir)
        return result
    result["skipped"] = data.get("skipped", [])
    for entry in data.get("entries", []):
        path = entry["path"]
        try:
            if entry.get("exists"):
                parent = os.path.dirname(path)
                if parent and not os.path.isdir(parent):
                    os.makedirs(parent)
                staging = "%s.hc-restore" % path
                if os.path.lexists(staging):
                    _remove(staging)
                copy_entry(entry["copy"], staging, [])
                if os.path.lexists(path):
                    if os.path.isdir(path) and not os.path.islink(path):
                        _remove(path)
                    elif entry.get("type") == "directory":
                        _remove(path)
                os.rename(staging, path)
                result["restored"].append(path)
            elif os.path.lexists(path):
                _remove(path)
                result["removed"].append(path)
        except (IOError, OSError) as exc:
            result["errors"].append("%s: %s" % (path, exc))
    return result


def _under(path, roots):
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


def find_holders(paths, exclude_pids=()):
    """Processes with an open file, cwd, executable or mapping under ``paths`` (from /proc).
    Returns a list of {pid, comm, paths}."""
    roots = [os.path.normpath(p) for p in paths]
    holders = []
    if not roots:
        return holders
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude_pids:
            continue
        base = "/proc/%s" % name
        found = set()
        candidates = []
        for link in ("cwd", "exe", "root"):
            candidates.append(os.path.join(base, link))
        try:
            candidates.extend(os.path.join(base, "fd", fd) for fd in os.listdir(os.path.join(base, "fd")))
        except OSError:
            pass
        for link in candidates:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target.endswith(" (deleted)"):
                target = target[:-10]
            if link.endswith("/root"):
                continue
            if _under(target, roots):
                found.add(target)
        try:
            with open(os.path.join(base, "maps")) as handle:
                for line in handle:
                    parts = line.split(None, 5)
                    if len(parts) == 6:
                        target = parts[5].strip()
                        if target.endswith(" (deleted)"):
                            target = target[:-10]
                        if target.startswith("/") and _under(target, roots):
                            found.add(target)
        except (IOError, OSError):
            pass
        if found:
            try:
                with open(os.path.join(base, "comm")) as handle:
                    comm = handle.read().strip()
            except (IOError, OSError):
                comm = "?"
            holders.append({"pid": int(name), "comm": comm, "paths": sorted(found)})
    return holders


def find_systemctl():
    """Absolute path of ``systemctl``: the first executable one on PATH, else in SYSTEMCTL_DIRS; or None."""
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + list(SYSTEMCTL_DIRS)
    for directory in dirs:
        path = os.path.join(directory, "systemctl")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    return None


def systemd_running():
    """True when this node was booted with systemd (sd_booted(3): SYSTEMD_RUN_DIR exists) and systemctl exists."""
    return os.path.isdir(SYSTEMD_RUN_DIR) and find_systemctl() is not None


def units(action, names, timeout=120):
    """``systemctl <action> <names>``; returns {action, units, rc, skipped, output} (rc None and the
    error in output when systemctl could not be run) or None without names."""
    if not names:
        return None
    systemctl = find_systemctl() if os.path.isdir(SYSTEMD_RUN_DIR) else None
    if systemctl is None:
        return {"action": action, "units": list(names), "rc": None, "skipped": True,
                "output": "systemd is not running on this node (no %s or no systemctl): "
                          "units not %s" % (SYSTEMD_RUN_DIR, "stopped" if action == "stop" else "started")}
    try:
        # Not AnsibleModule.run_command: this module_utils runs without an AnsibleModule object.
        proc = subprocess.Popen([systemctl, action] + list(names), stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, close_fds=True)
    except OSError as exc:
        return {"action": action, "units": list(names), "rc": None, "skipped": False,
                "output": "cannot run %s: %s" % (systemctl, exc)}
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0] + b"\n(timed out)"
    return {"action": action, "units": list(names), "rc": proc.returncode, "skipped": False,
            "output": out.decode("utf-8", "replace")[-4000:]}
