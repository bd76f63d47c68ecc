"""The upgrade action plugin inspects a payload once per playbook run, not once per host: the result
is shared between forked workers through a file in the run's private local tmp dir, keyed by the
payload file's identity, so a changed file is inspected again and a refused one is never cached."""

import os
import shutil

import pytest

from ansible_collections.waggle.honeycomb.plugins.action import upgrade as action
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl

from hctest.upgrade import make_legacy_payload, make_payload

HOSTILE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "hostile")
FIELDS = ("format", "manifest", "archive_sha256", "signature", "manifest_bytes", "path", "expanded_bytes",
          "member_count")


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = pl.inspect_archive

    def inspect(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(pl, "inspect_archive", inspect)
    return calls


@pytest.mark.parametrize("kind", ["v2", "legacy"])
def test_second_inspection_comes_from_the_cache_and_equals_the_first(tmp_path, counted, kind):
    cache = tmp_path / "local-tmp"
    cache.mkdir(mode=0o700)
    if kind == "v2":
        src = make_payload(tmp_path / "p", parameters={"type": "object", "properties": {"x": {"type": "string"}}})
    else:
        src = make_legacy_payload(tmp_path / "p")
    direct = pl.inspect_archive(str(src))
    del counted[:]
    first = action.inspect_once(str(src), "readme", cache_dir=str(cache))
    second = action.inspect_once(str(src), "readme", cache_dir=str(cache))
    assert len(counted) == 1
    for field in FIELDS:
        assert getattr(second, field) == getattr(direct, field) == getattr(first, field), field
    cached = [n for n in os.listdir(str(cache)) if n.endswith(".json")]
    assert len(cached) == 1 and os.stat(str(cache / cached[0])).st_mode & 0o077 == 0


def test_a_changed_file_is_inspected_again(tmp_path, counted):
    cache = tmp_path / "local-tmp"
    cache.mkdir()
    src = tmp_path / "payload.tar.gz"
    first, second = make_payload(tmp_path / "a", version="1.0"), make_payload(tmp_path / "b", version="2.0")
    shutil.copyfile(str(first), str(src))
    del counted[:]
    assert action.inspect_once(str(src), "readme", cache_dir=str(cache)).manifest["version"] == "1.0"
    with open(str(second), "rb") as new, open(str(src), "wb") as dest:
        dest.write(new.read())  # same path, same inode, new content
    assert action.inspect_once(str(src), "readme", cache_dir=str(cache)).manifest["version"] == "2.0"
    assert len(counted) == 2


def test_legacy_reading_is_part_of_the_key(tmp_path, counted):
    cache = tmp_path / "local-tmp"
    cache.mkdir()
    src = make_legacy_payload(tmp_path / "p")
    del counted[:]
    readme = action.inspect_once(str(src), "readme", cache_dir=str(cache))
    strict = action.inspect_once(str(src), "strict", cache_dir=str(cache))
    assert len(counted) == 2
    assert readme.manifest["state_check_codes"] != strict.manifest["state_check_codes"]


def test_refused_payload_is_never_cached(tmp_path, counted):
    cache = tmp_path / "local-tmp"
    cache.mkdir()
    src = os.path.join(HOSTILE, "traversal.tar.gz")
    with pytest.raises(pl.PayloadError):
        action.inspect_once(src, "readme", cache_dir=str(cache))
    with pytest.raises(pl.PayloadError):  # inspected again: a refusal is not cached
        action.inspect_once(src, "readme", cache_dir=str(cache))
    assert len(counted) == 2
    assert [n for n in os.listdir(str(cache)) if n.endswith(".json")] == []


def test_without_a_cache_dir_it_inspects_directly(tmp_path, counted):
    src = make_payload(tmp_path)
    del counted[:]
    action.inspect_once(str(src), "readme", cache_dir=str(tmp_path / "missing"))
    action.inspect_once(str(src), "readme", cache_dir=str(tmp_path / "missing"))
    assert len(counted) == 2 and not (tmp_path / "missing").exists()
