"""The state dir layout (layout.py) has one owner: its names, the listing helpers, the controller's view of
the same paths, and a scan of plugins/ that fails when a path of the state dir is built anywhere else."""

import ast
import os
import re

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import journal as jr
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import layout as lo

from hctest.playbook import REPO

SHA = "ab" * 32


def test_paths_of_a_state_dir():
    s = lo.StateLayout("/var/lib/hc/")
    assert s.root == "/var/lib/hc"
    assert s.payload_path(SHA) == "/var/lib/hc/payloads/%s.tar.gz" % SHA
    assert s.upload_path(SHA, "00ff") == "/var/lib/hc/payloads/.upload-%s-00ff" % SHA
    assert s.partial_path(SHA, 42) == "/var/lib/hc/payloads/.%s.partial.42" % SHA
    assert s.partial_path(SHA) == s.partial_path(SHA, os.getpid())
    assert s.transfer_path(SHA) == "/var/lib/hc/payloads/.transfer-%s.part" % SHA
    assert s.transfer_state_path(SHA) == "/var/lib/hc/payloads/.transfer-%s.json" % SHA
    assert [s.transfer_sha(p) for p in (s.transfer_path(SHA), s.transfer_state_path(SHA), s.payload_path(SHA),
                                        s.upload_path(SHA, "00ff"), ".transfer-.part")] == [SHA, SHA, None, None, None]
    assert s.job_dir("j1") == "/var/lib/hc/jobs/j1"
    assert s.journal_path(s.job_dir("j1")) == "/var/lib/hc/jobs/j1/journal.json"
    assert [f(s.job_dir("j1")) for f in (s.job_payload_dir, s.job_backup_dir, s.job_logs_dir)] == [
        "/var/lib/hc/jobs/j1/payload", "/var/lib/hc/jobs/j1/backup", "/var/lib/hc/jobs/j1/logs"]
    assert s.waiting_path(7) == "/var/lib/hc/waiting/7.json"
    assert (s.installed_path, s.lock_path, s.lock_info_path) == (
        "/var/lib/hc/installed.json", "/var/lib/hc/lock", "/var/lib/hc/lock.json")
    assert re.match(r"^\d{8}T\d{6}Z-%s-[0-9a-f]{4}$" % SHA[:12], s.new_job_id(SHA))


def test_names_are_parsed_back():
    s = lo.StateLayout("/x")
    assert s.store_sha(s.payload_path(SHA)) == SHA and s.store_sha(SHA + ".tar") is None
    assert s.store_sha(s.upload_path(SHA, "00")) is None
    assert s.partial_owner(s.partial_path(SHA, 42)) == ["42"]
    assert s.partial_owner(s.upload_path(SHA, "00")) is None and s.partial_owner(SHA + ".tar.gz") is None
    prefix = s.check_dir_prefix_of(42, 1234)
    assert prefix == ".check-42-1234-"
    assert s.check_dir_owner(prefix + "xyz")[:2] == ["42", "1234"]
    assert s.check_dir_owner("20240101T000000Z-abc-0001") is None


def test_plain_state_dirs_only_are_named_by_the_controller():
    assert lo.StateLayout.plain(None).root == lo.DEFAULT_STATE_DIR
    assert lo.StateLayout.plain("/srv/hc").payload_path(SHA) == "/srv/hc/payloads/%s.tar.gz" % SHA
    for expanded_by_the_node in ("~/hc", "$HOME/hc", "relative/hc", "/a/`id`", "/a\n/b"):
        assert lo.StateLayout.plain(expanded_by_the_node) is None


def test_stale_uploads_are_told_by_age(tmp_path):
    s = lo.StateLayout(str(tmp_path))
    os.makedirs(s.payloads_dir)
    old, new = s.upload_path(SHA, "01"), s.upload_path(SHA, "02")
    for path in (old, new, s.payload_path(SHA), s.partial_path(SHA, 1)):
        open(path, "w").close()
    past = os.path.getmtime(old) - 3600
    os.utime(old, (past, past))
    os.utime(s.payload_path(SHA), (past, past))
    assert s.stale_uploads(older_than=60) == [old]
    assert sorted(s.uploads()) == sorted([old, new])
    assert s.stale_uploads(older_than=0, now=os.path.getmtime(new) + 1) == sorted([old, new])
    assert lo.StateLayout(str(tmp_path / "none")).stale_uploads(0) == []


def test_waiting_files_and_check_dirs(tmp_path):
    s = lo.StateLayout(str(tmp_path))
    assert s.waiting_files() == [] and s.check_dirs() == [] and s.job_dirs() == []
    os.makedirs(s.waiting_dir)
    open(s.waiting_path(12), "w").close()
    os.makedirs(s.job_dir("j1"))
    os.makedirs(os.path.join(s.jobs_dir, s.check_dir_prefix_of(1, 2) + "x"))
    assert s.waiting_files() == [s.waiting_path(12)]
    assert [os.path.basename(p) for p in s.check_dirs()] == [".check-1-2-x"]


def test_leftovers_are_every_temporary_name_a_run_makes(tmp_path):
    """What the soak (tests/faults/test_soak.py) fails on: each kind of file a cut run can leave behind."""
    s = lo.StateLayout(str(tmp_path))
    assert s.leftovers() == []  # no state dir yet
    for d in (s.payloads_dir, s.waiting_dir, s.job_payload_dir(s.job_dir("j1")), s.job_backup_dir(s.job_dir("j1")),
              s.engine_dir):
        os.makedirs(d)
    made = [s.payload_path(SHA), s.installed_path, s.journal_path(s.job_dir("j1"))]  # not leftovers
    leftovers = [s.upload_path(SHA, "01"), s.partial_path(SHA, 7), s.waiting_path(9),
                 s.transfer_path(SHA), s.transfer_state_path(SHA),  # an interrupted resumable transfer
                 s.engine_install_dir("ab" * 32, 77),  # a resident engine install cut short
                 os.path.join(s.job_dir("j1"), jr.temp_prefix(s.journal_path(s.job_dir("j1"))) + "12.34"),
                 os.path.join(s.root, jr.temp_prefix(s.installed_path) + "5.6")]
    for path in made + leftovers:
        open(path, "w").close()
    staging = os.path.join(s.jobs_dir, ".j2.staging-abc")  # payload.extract_archive's staging dir
    check = os.path.join(s.jobs_dir, s.check_dir_prefix_of(1, 2) + "x")
    os.makedirs(os.path.join(staging, "inner"))
    os.makedirs(check)
    # a payload's own files (extracted, or in the job's snapshot) are not the engine's temporary names
    for d in (s.job_payload_dir(s.job_dir("j1")), s.job_backup_dir(s.job_dir("j1"))):
        open(os.path.join(d, ".config.tmp.1"), "w").close()
    expected = sorted(os.path.relpath(p, s.root) for p in leftovers + [staging, check])
    assert s.leftovers() == expected
    assert all(s.is_temporary(os.path.basename(p)) for p in leftovers + [staging, check] if p != s.waiting_path(9))
    assert not any(s.is_temporary(os.path.basename(p)) for p in made)


def test_state_dir_is_the_layout_plus_the_history(tmp_path):
    state = jr.StateDir(str(tmp_path / "hc"))
    assert isinstance(state, lo.StateLayout)
    state.ensure()
    assert os.path.isdir(state.jobs_dir) and os.path.isdir(state.payloads_dir)
    job = jr.Journal.create(state.job_dir(state.new_job_id(SHA)), status="applied")
    assert job.path == state.journal_path(job.job_dir)
    assert [j.job_id for j in state.list_jobs()] == [job.job_id]


def test_action_plugin_names_the_paths_the_node_uses():
    from ansible_collections.waggle.honeycomb.plugins.action import upgrade as action
    args = {"state_dir": "/srv/hc/", "_honeycomb": {"payload_sha256": SHA}}
    node = jr.StateDir("/srv/hc/")
    assert action.ActionModule._store_path(object.__new__(action.ActionModule), args) == node.payload_path(SHA)
    assert action.ActionModule._store_path(object.__new__(action.ActionModule), dict(args, state_dir="~/hc")) is None


# ---------------------------------------------------------------------------- one owner

LAYOUT_NAMES = frozenset(("jobs", "payloads", "waiting", "installed.json", "lock", "lock.json", "journal.json",
                          "payload", "backup", "logs"))
"""Names of the state dir and of a job dir: only layout.py joins them into paths."""
HARD_CODED = [
    re.compile(r"(^|/)(jobs|payloads|waiting)/"),
    re.compile(r"/(jobs|payloads|waiting)$"),
    re.compile(r"(^|/)(installed|lock|journal)\.json\b"),
    re.compile(r"\.upload-"),
    re.compile(r"\.partial\."),
    re.compile(r"\.check-"),
    re.compile(r"\.transfer-"),
]
OWNER = os.path.join("plugins", "module_utils", "_honeycomb", "layout.py")


def _code_strings(tree):
    """(line, text) of the string literals that are code: not docstrings and not DOCUMENTATION/EXAMPLES/
    RETURN; a layout name given to a ``join`` call counts as ``/<name>``."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs.add(id(node.value))  # docstrings, including attribute docstrings
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in ("DOCUMENTATION", "EXAMPLES", "RETURN")
                                                for t in node.targets):
            docs.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "join":
            for arg in node.args:
                if isinstance(arg, ast.Constant) and arg.value in LAYOUT_NAMES:
                    yield arg.lineno, "/" + arg.value


def hard_coded_layout(root):
    found = []
    for directory, dummy, names in os.walk(os.path.join(str(root), "plugins")):
        for name in sorted(names):
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, str(root))
            if not name.endswith(".py") or rel == OWNER:
                continue
            with open(path) as handle:
                tree = ast.parse(handle.read())
            for line, text in _code_strings(tree):
                if any(p.search(text) for p in HARD_CODED):
                    found.append("%s:%d: %r" % (rel, line, text))
    return found


def test_no_state_dir_path_is_built_outside_the_layout_class():
    assert hard_coded_layout(REPO) == [], "use layout.StateLayout instead of these names"


def test_the_scan_finds_hand_built_paths(tmp_path):
    bad = tmp_path / "plugins" / "action"
    bad.mkdir(parents=True)
    (bad / "x.py").write_text('"""doc: <state_dir>/payloads/.upload-* is fine here"""\nimport os\n'
                              'A = "%s/payloads" % "/x"\nB = os.path.join("/x", "waiting")\n'
                              'C = ".%s.partial.%d"\nD = {"jobs": [], "waiting": []}\n')
    assert sorted(f.split(":")[1] for f in hard_coded_layout(tmp_path)) == ["3", "4", "5"]
