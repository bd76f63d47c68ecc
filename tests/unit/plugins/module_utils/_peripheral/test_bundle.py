"""collection_code: the builder ships the node-side packages and the hc-peripheral launcher."""

import os
import stat
import tarfile

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import build
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb.build import BuildError

LIB = "hc_lib/ansible_collections/waggle/honeycomb/plugins/module_utils/"


def src_dir(tmp_path, config):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("hc_state_check.sh", "hc_install_upgrade.sh", "hc_verify_upgrade.sh"):
        (src / name).write_text("#!/bin/sh\nexec ./hc-peripheral camera-firmware state\n")
        os.chmod(str(src / name), 0o755)
    (src / "honeycomb.yml").write_text('version: "1.0"\n' + config)
    return src


def test_collection_code_is_packed_and_reproducible(tmp_path):
    src = src_dir(tmp_path, "collection_code: [_camera]\n")
    out = tmp_path / "a.tar.gz"
    res = build.build_payload(str(src), str(out))
    files = res["manifest"]["files"]
    assert "hc-peripheral" in files and LIB + "_peripheral/cli.py" in files and LIB + "_camera/firmware.py" in files
    assert LIB + "__init__.py" in files and "hc_lib/ansible_collections/__init__.py" in files
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    with tarfile.open(str(out)) as tf:
        launcher = tf.getmember("hc-peripheral")
        assert launcher.mode & stat.S_IXUSR
        assert b"_peripheral.cli" in tf.extractfile(launcher).read()
    again = build.build_payload(str(src), str(tmp_path / "b.tar.gz"))
    assert again["sha256"] == res["sha256"]


@pytest.mark.parametrize("config,needle", [
    ("collection_code: [_nosuch]\n", "'_nosuch' is not a module_utils package"),
    ("collection_code: [../etc]\n", "'../etc' is not a module_utils package"),
    ("collection_code: _camera\n", "must be a list"),
])
def test_collection_code_refusals(tmp_path, config, needle):
    src = src_dir(tmp_path, config)
    with pytest.raises(BuildError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        build.build_payload(str(src), str(tmp_path / "a.tar.gz"))


def test_collection_code_clash(tmp_path):
    src = src_dir(tmp_path, "collection_code: [_camera]\n")
    (src / "hc-peripheral").write_text("#!/bin/sh\n")
    with pytest.raises(BuildError, match="would replace hc-peripheral"):
        build.build_payload(str(src), str(tmp_path / "a.tar.gz"))
