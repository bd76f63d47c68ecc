"""Each built-in check against fixture files, fake executables and real 127.0.0.1 servers."""

import os

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity import checks


def cfg(name, **overrides):
    return checks.resolve_settings({name: overrides})[name]


def run(name, ctx=None, **overrides):
    return checks.CHECK_FUNCS[name](cfg(name, **overrides), ctx or checks.Context())


# ---------------------------------------------------------------- free space

def test_free_space_passes_and_fails_on_either_threshold(tmp_path):
    st = os.statvfs(str(tmp_path))
    free_mb = st.f_bavail * st.f_frsize / 1048576.0
    ok = run("free_space_root", path=str(tmp_path), min_free_mb=1, min_free_percent=0)
    assert (ok.result, ok.rc) == ("pass", 0)
    assert "MiB free" in ok.output
    low = run("free_space_root", path=str(tmp_path), min_free_mb=int(free_mb) + 10 ** 9, min_free_percent=0)
    assert (low.result, low.rc) == ("fail", 1)
    assert "below min_free_mb" in low.reason
    pct = run("free_space_state", path=str(tmp_path), min_free_mb=0, min_free_percent=100.5)
    assert pct.result == "fail" and "below min_free_percent" in pct.reason


def test_free_space_of_a_missing_state_dir_measures_its_parent(tmp_path):
    outcome = run("free_space_state", path=str(tmp_path / "not" / "yet"), min_free_mb=0)
    assert outcome.result == "pass"
    assert "measured %s" % tmp_path in outcome.output


# ---------------------------------------------------------------- mounts

def test_mounts_waggle_layout_passes(fixtures):
    outcome = run("mounts", mounts_file=str(fixtures / "proc_mounts_waggle"))
    assert (outcome.result, outcome.rc) == ("pass", 0)
    assert "/media/root-ro: /dev/mmcblk0p1 ext4 ro ok" in outcome.output


def test_mounts_missing_and_wrong_mode_fail(fixtures):
    missing = run("mounts", mounts_file=str(fixtures / "proc_mounts_waggle"),
                  expected={"/media/root-ro": "ro", "/media/sdcard": "rw"})
    assert (missing.result, missing.rc) == ("fail", 1)
    assert "/media/sdcard" in missing.reason
    # the last entry of a mount point wins: root-rw was remounted read-only over itself
    wrong = run("mounts", mounts_file=str(fixtures / "proc_mounts_rw_remounted"))
    assert (wrong.result, wrong.rc) == ("fail", 2)
    assert "/media/root-rw" in wrong.reason
    rw_root_ro = run("mounts", mounts_file=str(fixtures / "proc_mounts_waggle"), expected={"/media/root-ro": "rw"})
    assert rw_root_ro.rc == 2


def test_mounts_unescapes_spaces_and_skips_without_expectations(fixtures):
    outcome = run("mounts", mounts_file=str(fixtures / "proc_mounts_waggle"), expected={"/media/my usb": "rw"})
    assert outcome.result == "pass"
    none = run("mounts", mounts_file="/nonexistent", expected={})
    assert (none.result, none.rc) == ("skipped", None)
    assert "expected" in none.reason


# ---------------------------------------------------------------- fsck

def test_fsck_clean_log_passes(fixtures):
    outcome = run("fsck_clean", log=str(fixtures / "fsck_clean.log"))
    assert (outcome.result, outcome.rc) == ("pass", 0)


def test_fsck_errors_not_clean_and_missing(fixtures, tmp_path):
    errors = run("fsck_clean", log=str(fixtures / "fsck_errors.log"))
    assert (errors.result, errors.rc) == ("fail", 3)
    other = run("fsck_clean", log=str(fixtures / "fsck_other_device.log"))
    assert (other.result, other.rc) == ("fail", 2)
    assert "/dev/mmcblk0p1" in other.reason
    assert run("fsck_clean", log=str(fixtures / "fsck_other_device.log"), devices=["/dev/nvme0n1p3"]).result == "pass"
    missing = run("fsck_clean", log=str(tmp_path / "fsck.log"))
    assert (missing.result, missing.rc) == ("fail", 1)
    skip = run("fsck_clean", log=str(tmp_path / "fsck.log"), missing_log="skip")
    assert (skip.result, skip.rc) == ("skipped", None)


# ---------------------------------------------------------------- clock

def no_adjtimex():
    return None


def test_clock_from_timedatectl_237_and_older_wording(fixtures, make_exe):
    synced = make_exe("td-ok", "cat %s" % (fixtures / "timedatectl_237_synced.txt"))
    outcome = run("clock_synchronized", checks.Context(adjtimex=no_adjtimex), timedatectl=synced)
    assert (outcome.result, outcome.rc) == ("pass", 0)
    unsynced = make_exe("td-no", "cat %s" % (fixtures / "timedatectl_old_unsynced.txt"))
    outcome = run("clock_synchronized", checks.Context(adjtimex=no_adjtimex), timedatectl=unsynced)
    assert (outcome.result, outcome.rc) == ("fail", 1)
    assert "timedatectl" in outcome.reason


def test_clock_falls_through_failing_timedatectl_to_timesync_file(tmp_path, make_exe):
    broken = make_exe("td-broken", "echo 'Failed to connect to bus: No such file or directory' >&2; exit 1")
    folder = tmp_path / "timesync"
    folder.mkdir()
    ctx = checks.Context(adjtimex=lambda: 0)
    unsynced = run("clock_synchronized", ctx, timedatectl=broken, timesync_file=str(folder / "synchronized"))
    assert unsynced.result == "fail"
    assert "Failed to connect to bus" in unsynced.output
    (folder / "synchronized").write_text("")
    synced = run("clock_synchronized", ctx, timedatectl=broken, timesync_file=str(folder / "synchronized"))
    assert synced.result == "pass"


def test_clock_adjtimex_source_and_skip_when_nothing_applies(tmp_path):
    absent = str(tmp_path / "nope" / "synchronized")
    bad = run("clock_synchronized", checks.Context(adjtimex=lambda: checks.TIME_ERROR),
              timedatectl="no-such-timedatectl", timesync_file=absent)
    assert (bad.result, bad.rc) == ("fail", 1)
    assert "TIME_ERROR" in bad.output
    good = run("clock_synchronized", checks.Context(adjtimex=lambda: 0), timedatectl="no-such-timedatectl",
               timesync_file=absent)
    assert good.result == "pass"
    skip = run("clock_synchronized", checks.Context(adjtimex=no_adjtimex), timedatectl="no-such-timedatectl",
               timesync_file=absent)
    assert (skip.result, skip.rc) == ("skipped", None)
    only_file = run("clock_synchronized", checks.Context(adjtimex=lambda: 0), sources=["timesync_file"],
                    timesync_file=absent)
    assert only_file.result == "skipped"


def test_real_adjtimex_answers_a_state():
    state = checks.libc_adjtimex_state()
    assert state is None or 0 <= state <= 5


# ---------------------------------------------------------------- identity

@pytest.fixture
def identity(tmp_path):
    def make(node_id="000048B02D0766CD", vsn="W030", hostname=None):
        if node_id is not None:
            (tmp_path / "node-id").write_text(node_id + "\n")
        if vsn is not None:
            (tmp_path / "vsn").write_text(vsn + "\n")
        if hostname is not None:
            (tmp_path / "hostname").write_text(hostname + "\n")
        return {"node_id_file": str(tmp_path / "node-id"), "vsn_file": str(tmp_path / "vsn")}

    return make


def test_identity_well_formed_passes(identity):
    outcome = run("node_identity", **identity())
    assert (outcome.result, outcome.rc) == ("pass", 0)
    assert "000048B02D0766CD" in outcome.output and "W030" in outcome.output


@pytest.mark.parametrize("node_id, vsn, rc", [
    (None, "W030", 1), ("000048b02d0766cd", "W030", 2), ("48B02D0766CD", "W030", 2),
    ("000048B02D0766CD", None, 3), ("000048B02D0766CD", "w030", 4), ("000048B02D0766CD", "W0301", 4),
])
def test_identity_missing_or_malformed_fails(identity, node_id, vsn, rc):
    outcome = run("node_identity", **identity(node_id, vsn))
    assert (outcome.result, outcome.rc) == ("fail", rc)


def test_identity_expected_values_and_hostname(identity, tmp_path):
    files = identity(hostname="ws-nxcore-000048B02D0766CD")
    assert run("node_identity", expected_node_id="000048b02d0766cd", **files).result == "pass"
    assert run("node_identity", expected_node_id="000048B02D0766BE", **files).rc == 5
    assert run("node_identity", expected_vsn="W031", **files).rc == 6
    assert run("node_identity", hostname_file=str(tmp_path / "hostname"), **files).result == "pass"
    (tmp_path / "hostname").write_text("ws-nxcore-prereg\n")
    assert run("node_identity", hostname_file=str(tmp_path / "hostname"), **files).rc == 7
    no_vsn = identity(vsn=None)
    (tmp_path / "vsn").unlink()
    assert run("node_identity", require_vsn=False, **no_vsn).result == "pass"


# ---------------------------------------------------------------- reverse tunnel

TUNNEL_ARGV = ["ssh", "-vv", "-o", "ServerAliveInterval 60", "-o", "ServerAliveCountMax 3", "-N", "-R",
               "/home_dirs/node-000048B02D0766CD/rtun.sock:localhost:22", "node-000048B02D0766CD@beekeeper",
               "-p", "49190", "-i", "/etc/waggle/bk_key.pem"]


def test_tunnel_process_found_by_cmdline(fake_proc):
    fake_proc(1, ["/sbin/init"])
    fake_proc(812, ["/usr/sbin/sshd", "-D"])
    root = fake_proc(933, TUNNEL_ARGV)
    outcome = run("reverse_tunnel", method="process", proc_dir=root)
    assert (outcome.result, outcome.rc) == ("pass", 0)
    assert "pid 933" in outcome.output
    simfleet = fake_proc(934, ["/usr/bin/ssh", "-N", "-R", "/home_dirs/node-X/rtun.sock:localhost:22", "b"])
    assert "pid 934" in run("reverse_tunnel", method="process", proc_dir=simfleet).output


def test_tunnel_missing_or_forward_only_fails(fake_proc):
    root = fake_proc(812, ["/usr/sbin/sshd", "-D"])
    fake_proc(900, ["ssh", "-L", "8080:localhost:80", "somewhere"])
    fake_proc(901, ["vim", "notes-about-ssh -R rtun.sock"])
    outcome = run("reverse_tunnel", method="process", proc_dir=root)
    assert (outcome.result, outcome.rc) == ("fail", 1)


def test_tunnel_systemd_method_uses_is_active(make_exe, tmp_path):
    active = make_exe("systemctl-ok", 'test "$1 $2" = "is-active waggle-bk-reverse-tunnel" && echo active')
    assert run("reverse_tunnel", method="systemd", systemctl=active).result == "pass"
    inactive = make_exe("systemctl-no", "echo activating; exit 3")
    outcome = run("reverse_tunnel", method="systemd", systemctl=inactive)
    assert (outcome.result, outcome.rc) == ("fail", 1)
    assert "activating" in outcome.reason
    # auto picks systemd only where systemd runs
    (tmp_path / "run-systemd").mkdir()
    assert run("reverse_tunnel", systemctl=inactive, systemd_dir=str(tmp_path / "run-systemd")).rc == 1
    empty = tmp_path / "emptyproc"
    empty.mkdir()
    auto_process = run("reverse_tunnel", systemctl=active, systemd_dir=str(tmp_path / "none"), proc_dir=str(empty))
    assert auto_process.rc == 1 and "no process" in auto_process.reason
    assert run("reverse_tunnel", method="systemd", systemctl="no-such-systemctl").rc == 2


# ---------------------------------------------------------------- k3s

def test_k3s_skipped_without_kubectl():
    outcome = run("k3s_node_ready", kubectl="no-such-kubectl-here")
    assert (outcome.result, outcome.rc) == ("skipped", None)
    assert "not found" in outcome.reason


def test_k3s_ready_not_ready_error_and_timeout(fixtures, make_exe, tmp_path):
    args = tmp_path / "args"
    ready = make_exe("kubectl-ok", 'echo "$@" > %s; cat %s' % (args, fixtures / "kubectl_node_ready.json"))
    (tmp_path / "node-id").write_text("000048B02D0766CD\n")
    outcome = run("k3s_node_ready", kubectl=ready, node_id_file=str(tmp_path / "node-id"))
    assert (outcome.result, outcome.rc) == ("pass", 0)
    assert args.read_text().split() == ["get", "node", "000048b02d0766cd.ws-nxcore", "-o", "json"]
    run("k3s_node_ready", kubectl=ready, node_name="custom", kubeconfig="/etc/rancher/k3s/k3s.yaml")
    assert args.read_text().split() == ["--kubeconfig", "/etc/rancher/k3s/k3s.yaml", "get", "node", "custom", "-o",
                                        "json"]
    notready = make_exe("kubectl-nr", "cat %s" % (fixtures / "kubectl_node_notready.json"))
    outcome = run("k3s_node_ready", kubectl=notready, node_name="n")
    assert (outcome.result, outcome.rc) == ("fail", 1)
    assert "Kubelet stopped posting" in outcome.reason
    error = make_exe("kubectl-err", 'echo "The connection to the server 127.0.0.1:6443 was refused" >&2; exit 1')
    outcome = run("k3s_node_ready", kubectl=error, node_name="n")
    assert (outcome.result, outcome.rc) == ("fail", 2)
    assert "refused" in outcome.output
    hang = make_exe("kubectl-hang", "sleep 30")
    assert run("k3s_node_ready", kubectl=hang, node_name="n", command_timeout=1).rc == 127
    garbage = make_exe("kubectl-garbage", "echo not json")
    assert run("k3s_node_ready", kubectl=garbage, node_name="n").rc == 3


# ---------------------------------------------------------------- switch

def test_switch_reachable_any_and_all(tcp_listener, closed_port):
    ok = run("switch_reachable", address="127.0.0.1", ports=[closed_port, tcp_listener])
    assert (ok.result, ok.rc) == ("pass", 0)
    assert "127.0.0.1:%d open" % tcp_listener in ok.output
    strict = run("switch_reachable", address="127.0.0.1", ports=[closed_port, tcp_listener], require="all")
    assert (strict.result, strict.rc) == ("fail", 1)
    down = run("switch_reachable", address="127.0.0.1", ports=[closed_port], connect_timeout=1)
    assert (down.result, down.rc) == ("fail", 1)
    assert "refused" in down.output.lower()
    assert run("switch_reachable", address="", ports=[22]).result == "skipped"


# ---------------------------------------------------------------- cameras

def test_cameras_401_counts_alive(http_server):
    port = http_server(401)
    outcome = run("cameras_http", addresses=["127.0.0.1"], port=port)
    assert (outcome.result, outcome.rc) == ("pass", 0)
    assert "HTTP 401 alive" in outcome.output


def test_cameras_dead_or_wrong_status_fail(http_server, closed_port):
    alive = http_server(200)
    broken = http_server(500)
    outcome = run("cameras_http", addresses=["127.0.0.1"], port=broken)
    assert (outcome.result, outcome.rc) == ("fail", 1)
    assert "HTTP 500" in outcome.output
    # two addresses on the same port: 127.0.0.1 answers, 127.0.0.2 (nothing listens there) does not
    both = run("cameras_http", addresses=["127.0.0.1", "127.0.0.2"], port=alive, request_timeout=2)
    assert (both.result, both.rc) == ("fail", 1)
    assert "127.0.0.2" in both.reason
    assert run("cameras_http", addresses=["127.0.0.1", "127.0.0.2"], port=alive, require="any").result == "pass"
    assert run("cameras_http", addresses=[]).result == "skipped"
    refused = run("cameras_http", addresses=["127.0.0.1"], port=closed_port)
    assert refused.result == "fail"


# ---------------------------------------------------------------- lan0

def test_lan0_states(sysnet):
    root = sysnet("lan0", "up")
    assert run("lan0_up", sys_class_net=root).result == "pass"
    sysnet("lan0", "down")
    outcome = run("lan0_up", sys_class_net=root)
    assert (outcome.result, outcome.rc) == ("fail", 1)
    assert run("lan0_up", sys_class_net=root, interface="eth9").rc == 3
    sysnet("lan0", "unknown")
    assert run("lan0_up", sys_class_net=root).rc == 1
    assert run("lan0_up", sys_class_net=root, accept_states=["up", "unknown"]).result == "pass"


def test_lan0_real_loopback_sysfs():
    # the real /sys/class/net of this namespace has lo, whose operstate is "unknown"
    assert run("lan0_up", interface="lo", accept_states=["unknown", "up"]).result == "pass"


# ---------------------------------------------------------------- PSU GPIO

LINES = {"acok": 492, "pg1": 493, "pg2": 494, "pg3": 495, "pg4": 496}


def test_psu_skipped_when_not_configured(tmp_path):
    outcome = run("psu_gpio", config_ini=str(tmp_path / "config.ini"))
    assert (outcome.result, outcome.rc) == ("skipped", None)


def test_psu_all_high_passes_with_lines_from_config_ini(fixtures, gpio_dir):
    root = gpio_dir(gpio492=1, gpio493=1, gpio494=1, gpio495=1, gpio496=1)
    outcome = run("psu_gpio", config_ini=str(fixtures / "waggle_config.ini"), gpio_dir=root,
                  manifest=str(fixtures / "node-manifest-v2-ep.json"))
    assert (outcome.result, outcome.rc) == ("pass", 0)
    assert "ACOK (gpio492) = 1" in outcome.output
    assert "EP supply present" in outcome.output


@pytest.mark.parametrize("values, manifest, rc", [
    (dict(gpio492=0, gpio493=1, gpio494=1, gpio495=1, gpio496=1), "ep", 4),
    (dict(gpio492=1, gpio493=0, gpio494=1, gpio495=1, gpio496=1), "ep", 5),
    (dict(gpio492=1, gpio493=1, gpio494=0, gpio495=1, gpio496=1), "ep", 6),
    (dict(gpio492=1, gpio493=1, gpio494=0, gpio495=1, gpio496=1), "noep", 0),
    (dict(gpio492=1, gpio493=1, gpio494=1, gpio495=1, gpio496=0), "ep", 7),
    (dict(gpio492=1, gpio493=1, gpio494=1, gpio495=0, gpio496=0), "ep", 8),
])
def test_psu_waggle_rc_codes(fixtures, gpio_dir, values, manifest, rc):
    root = gpio_dir(**values)
    outcome = run("psu_gpio", lines=LINES, gpio_dir=root, manifest=str(fixtures / ("node-manifest-v2-%s.json" % manifest)))
    assert outcome.rc == rc
    assert outcome.result == ("pass" if rc == 0 else "fail")


def test_psu_unexported_gpio_fails_without_exporting(gpio_dir):
    root = gpio_dir(gpio492=1)
    outcome = run("psu_gpio", lines={"acok": 492, "pg1": 493}, gpio_dir=root)
    assert (outcome.result, outcome.rc) == ("fail", 1)
    assert "gpio493" in outcome.reason
    assert not os.path.exists(os.path.join(root, "export"))
    assert sorted(os.listdir(root)) == ["gpio492"]


def test_psu_ep_supply_override(gpio_dir, fixtures):
    root = gpio_dir(gpio492=1, gpio493=1, gpio494=0, gpio495=1, gpio496=1)
    assert run("psu_gpio", lines=LINES, gpio_dir=root, ep_supply="present").rc == 6
    assert run("psu_gpio", lines=LINES, gpio_dir=root, ep_supply="absent",
               manifest=str(fixtures / "node-manifest-v2-ep.json")).rc == 0
