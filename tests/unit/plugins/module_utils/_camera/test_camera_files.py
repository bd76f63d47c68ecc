"""Files the camera code writes on the node (snapshots, configuration backups) appear whole or not at all,
with the mode asked for, and leave no temp file behind."""

import os
import stat

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.files import replace_file


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_the_bytes_with_the_mode_and_no_temp_file(tmp_path):
    dest = tmp_path / "camera-config.bin"
    replace_file(str(dest), b"\x00config", 0o600, prefix=".camera-config.")
    assert dest.read_bytes() == b"\x00config" and _mode(dest) == 0o600
    assert os.listdir(str(tmp_path)) == ["camera-config.bin"]


def test_replaces_an_existing_file_and_sets_a_mode_wider_than_the_umask(tmp_path):
    dest = tmp_path / "snap.jpg"
    dest.write_bytes(b"old")
    os.chmod(str(dest), 0o600)
    old_umask = os.umask(0o077)
    try:
        replace_file(str(dest), b"new", 0o664, prefix=".snapshot.", suffix=".jpg")
    finally:
        os.umask(old_umask)
    assert dest.read_bytes() == b"new" and _mode(dest) == 0o664
    assert os.listdir(str(tmp_path)) == ["snap.jpg"]


def test_a_relative_path_is_written_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    replace_file("snap.jpg", b"jpeg", 0o644, prefix=".snapshot.")
    assert (tmp_path / "snap.jpg").read_bytes() == b"jpeg"


def test_a_failed_rename_leaves_no_temp_file_and_the_target_as_it_was(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep").write_bytes(b"k")
    with pytest.raises(OSError):
        replace_file(str(target), b"data", 0o644, prefix=".snapshot.", suffix=".jpg")
    assert sorted(os.listdir(str(tmp_path))) == ["taken"]
    assert os.listdir(str(target)) == ["keep"]


def test_a_missing_directory_fails_without_writing(tmp_path):
    with pytest.raises(OSError):
        replace_file(str(tmp_path / "missing" / "snap.jpg"), b"data", 0o644, prefix=".snapshot.")
    assert os.listdir(str(tmp_path)) == []
