"""Fleet naming rules and refusals that need no running fleet (and no root)."""

import re
from pathlib import Path

import pytest
from hctools.simfleet import fleet as fl
from hctools.simfleet.cli import main


def test_identities_follow_the_production_formats():
    for i in (1, 42, 999):
        vsn, node_id = fl.node_identity(Path("/tmp/hcf-abc"), i)
        assert re.fullmatch(r"[A-Z][A-Z0-9]{3}", vsn)  # docs/devices/node.md, identity
        assert re.fullmatch(r"[0-9A-F]{16}", node_id) and node_id.startswith("000048B02D")
    assert fl.node_identity(Path(fl.DEFAULT_DIR), 1) == ("W001", "000048B02D000001")


def test_fleets_in_different_dirs_never_share_names_or_node_ids():
    dirs = [Path(f"/tmp/hcf-{i}") for i in range(200)]
    assert len({fl.fleet_prefix(d) for d in dirs}) == len(dirs)
    tags = [fl.fleet_tag(d) for d in dirs]
    assert all(1 <= t <= 0xFFF for t in tags)  # 0 is reserved for the default directory
    assert fl.fleet_tag(Path(fl.DEFAULT_DIR)) == 0


def test_dir_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SIMFLEET_DIR", raising=False)
    assert fl.resolve_dir(None) == Path(fl.DEFAULT_DIR)
    fl.remember(tmp_path / "remembered")
    assert fl.resolve_dir(None) == tmp_path / "remembered"
    monkeypatch.setenv("SIMFLEET_DIR", str(tmp_path / "env"))
    assert fl.resolve_dir(None) == tmp_path / "env"
    assert fl.resolve_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_without_root_the_refusal_says_what_to_do(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(fl.os, "geteuid", lambda: 1000)
    assert main(["up", "--nodes", "1", "--dir", str(tmp_path / "f"), "--no-remember", "--isolation", "namespaces"]) == 2
    err = capsys.readouterr().err
    assert "namespaces mode needs root" in err and "sudo" in err and "--isolation ports" in err
    assert not (tmp_path / "f" / "fleet.json").exists()


def test_the_default_isolation_depends_on_root(monkeypatch):
    monkeypatch.delenv("SIMFLEET_ISOLATION", raising=False)
    monkeypatch.setattr(fl.os, "geteuid", lambda: 1000)
    assert fl.default_isolation() == "ports"
    monkeypatch.setattr(fl.os, "geteuid", lambda: 0)
    assert fl.default_isolation() == "namespaces"
    monkeypatch.setenv("SIMFLEET_ISOLATION", "ports")
    assert fl.default_isolation() == "ports"
    monkeypatch.setenv("SIMFLEET_ISOLATION", "chroot")
    with pytest.raises(fl.FleetError, match="SIMFLEET_ISOLATION must be one of namespaces, ports, got 'chroot'"):
        fl.default_isolation()


def test_an_unknown_isolation_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["up", "--nodes", "1", "--dir", str(tmp_path / "f"), "--isolation", "vm"])
    assert "invalid choice: 'vm'" in capsys.readouterr().err


def test_status_of_a_missing_fleet_is_named(tmp_path, capsys):
    assert main(["status", "--dir", str(tmp_path / "none")]) == 2
    assert "no fleet at" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["W001", "000048b02d000001"])
def test_nodes_are_found_by_vsn_or_node_id(tmp_path, name):
    f = fl.Fleet(tmp_path)
    f.state = {"nodes": [{"vsn": "W001", "node_id": "000048B02D000001", "netns": "x-W001"}]}
    assert f.find(name)["vsn"] == "W001"
    with pytest.raises(fl.FleetError, match="known: W001"):
        f.find("W002")
