"""Repository-wide rules that no single area's tests would catch.

- Users only have what is in the repository: no tracked file may point at the team's private notes
  folder (the device and platform facts are written up in docs/devices/ instead).
- Every relative link in the Markdown docs leads to a file that exists.
"""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Built from parts so that this file does not match itself.
PRIVATE_NOTES = "shared" + "/" + "reference"
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def tracked_files(repo=REPO):
    try:
        out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail("cannot list the tracked files with git (%s): install git (tools/system-deps.sh)" % exc)
    return [repo / name for name in out.decode().split("\0") if name]


def text_of(path):
    try:
        data = path.read_bytes()
    except OSError:  # tracked but deleted in the work tree
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")


def mentions_of_private_notes(repo=REPO):
    offenders = []
    for path in tracked_files(repo):
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if PRIVATE_NOTES in line:
                offenders.append("%s:%d: %s" % (path.relative_to(repo), number, line.strip()[:120]))
    return offenders


def test_no_tracked_file_points_at_private_notes():
    offenders = mentions_of_private_notes()
    assert not offenders, ("these lines point at notes users do not have; write the facts into docs/ "
                           "(docs/devices/) and link there:\n" + "\n".join(offenders))


def heading_anchors(text):
    """The anchors GitHub gives the headings of a Markdown text (lower case, punctuation dropped,
    spaces to dashes); headings inside code blocks do not count."""
    anchors, in_code = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            anchors.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_relative_links_in_markdown_resolve():
    """Every relative link in a tracked Markdown file names an existing file, and its #anchor (when
    the target is Markdown) one of that file's headings."""
    broken = []
    for path in tracked_files():
        if path.suffix != ".md":
            continue
        text = text_of(path) or ""
        for target in LINK_RE.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # URLs
            file_part, dummy, anchor = target.partition("#")
            dest = path.parent / file_part if file_part else path
            if not dest.exists():
                broken.append("%s: %s (no such file)" % (path.relative_to(REPO), target))
            elif anchor and dest.suffix == ".md" and anchor not in heading_anchors(dest.read_text()):
                broken.append("%s: %s (no such heading)" % (path.relative_to(REPO), target))
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_heading_anchors_follow_github():
    text = "# Top\n## 3. Resume rules\n```\n# not a heading\n```\n## The fleet report (`x.y` callback)\n"
    assert heading_anchors(text) == {"top", "3-resume-rules", "the-fleet-report-xy-callback"}


def test_the_check_finds_a_mention_in_a_tracked_file(tmp_path):
    """The rule itself works: a tracked file naming the folder is reported with its line; an
    untracked one is not (it is not part of the repository)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("intro\nsee ../%s/waggle.md\n" % PRIVATE_NOTES)
    (tmp_path / "b.py").write_text("# clean\n")
    (tmp_path / "untracked.md").write_text("/work/%s/x.md\n" % PRIVATE_NOTES)
    subprocess.run(["git", "-C", str(tmp_path), "add", "docs/a.md", "b.py"], check=True)
    found = mentions_of_private_notes(tmp_path)
    assert len(found) == 1 and found[0].startswith("docs/a.md:2: see ../"), found


# Built from parts so that this file does not match itself.
IMPORT_OR_SKIP = "importor" + "skip("


def test_no_test_skips_for_a_python_module_the_venv_installs():
    """docs/development.md, "Skips": every Python module a test needs is installed by `make venv` (pinned in
    requirements-dev.txt), so its absence must fail naming the command (hctest.requires.require_module), not
    skip and let a broken set-up pass."""
    offenders = []
    for path in tracked_files():
        if path.suffix != ".py" or not str(path.relative_to(REPO)).startswith("tests/"):
            continue
        text = text_of(path) or ""
        offenders += ["%s:%d" % (path.relative_to(REPO), n) for n, line in enumerate(text.splitlines(), 1)
                      if IMPORT_OR_SKIP in line]
    assert not offenders, "use hctest.requires.require_module instead of pytest.importorskip: %s" % offenders
