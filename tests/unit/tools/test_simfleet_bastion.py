"""simfleet's bastion profiles (`up --bastion`) without a fleet: the sshd settings, the checks of `up`."""

import os

import pytest
from hctools.simfleet import bastion, configs, procs
from hctools.simfleet import fleet as fl
from hctools.simfleet.cli import main


def _settings(text: str) -> list:
    return [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("profile", sorted(configs.BASTION_PROFILES))
def test_each_profile_completes_the_bastion_config_without_repeating_a_setting(profile):
    config = configs.BASTION_SSHD_CONFIG.format(port=2222, dir="/x") + configs.BASTION_PROFILES[profile]
    names = _settings(config)
    # sshd takes the first value of a setting: a repeated one would silently ignore the profile
    assert len(names) == len(set(names)), config
    assert {"AllowStreamLocalForwarding", "ClientAliveInterval", "LogLevel"} <= set(names)


def test_production_profile_keeps_openssh_limits_like_bk_sshd():
    production = configs.BASTION_PROFILES[configs.DEFAULT_BASTION_PROFILE]
    assert configs.DEFAULT_BASTION_PROFILE == "production"
    # MaxStartups/MaxSessions unset: OpenSSH's 10:30:100 and 10, what the collection must cope with
    assert not {"MaxStartups", "MaxSessions"} & set(_settings(production + configs.BASTION_SSHD_CONFIG))
    assert "AllowStreamLocalForwarding remote" in production.splitlines()
    assert "MaxStartups 200:30:400" in configs.BASTION_PROFILES["permissive"].splitlines()


def test_a_fleet_state_without_a_profile_has_the_production_bastion(tmp_path):
    f = fl.Fleet(tmp_path / "f")
    f.state = {"isolation": "ports", "nodes": []}
    assert bastion.profile(f) == "production"
    f.state["bastion_profile"] = "permissive"
    assert bastion.profile(f) == "permissive"


def test_unknown_profile_is_refused_before_anything_is_made(tmp_path):
    d = tmp_path / "f"
    with pytest.raises(fl.FleetError, match=r"--bastion must be one of production, permissive, got 'lax'"):
        fl.Fleet(d).up(1, [], isolation="ports", bastion_profile="lax")
    assert not d.exists()
    with pytest.raises(SystemExit) as e:  # the CLI offers the same choices
        main(["up", "--bastion", "lax", "--dir", str(d)])
    assert e.value.code == 2
    assert not d.exists()


def test_a_running_fleet_refuses_another_profile(tmp_path):
    f = fl.Fleet(tmp_path / "f")
    me = {"pid": os.getpid(), "start": procs.starttime(os.getpid())}  # stands in for a running bastion sshd
    f.state = {"isolation": "ports", "nodes": [{"vsn": "W001"}], "bastion": me, "bastion_profile": "permissive"}
    assert f.up_running()
    with pytest.raises(fl.FleetError, match=r"is up with the permissive bastion, not production; run `simfleet down"):
        f.up(1, [], isolation="ports", bastion_profile="production")
