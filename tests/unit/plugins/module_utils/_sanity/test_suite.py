"""Suite level: settings validation, selection, Waggle config.ini, aggregation into pass/warning/fatal."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._sanity import checks, suite


def test_settings_merge_over_defaults_and_coerce():
    resolved = checks.resolve_settings({"free_space_state": {"min_free_mb": "1024"},
                                        "switch_reachable": {"ports": 22},
                                        "node_identity": {"require_vsn": "no"}})
    assert resolved["free_space_state"]["min_free_mb"] == 1024
    assert resolved["free_space_state"]["path"] == "/var/lib/honeycomb"
    assert resolved["switch_reachable"]["ports"] == [22]
    assert resolved["node_identity"]["require_vsn"] is False
    assert resolved["lan0_up"] == checks.DEFAULTS["lan0_up"]
    assert set(resolved) == set(checks.CHECK_NAMES)


@pytest.mark.parametrize("settings, message", [
    ({"nope": {}}, "settings.nope: unknown check"),
    ({"lan0_up": {"iface": "lan0"}}, "settings.lan0_up.iface: unknown setting; settings of lan0_up:"),
    ({"lan0_up": {"severity": "critical"}}, "settings.lan0_up.severity must be one of warning, fatal"),
    ({"free_space_root": {"min_free_mb": "lots"}}, "settings.free_space_root.min_free_mb must be a number"),
    ({"free_space_root": {"min_free_mb": -1}}, "must be a number >= 0"),
    ({"mounts": {"expected": {"/": "readonly"}}}, "mount point / must map to ro or rw"),
    ({"switch_reachable": {"ports": ["ssh"]}}, "settings.switch_reachable.ports must be a list of integers"),
    ({"clock_synchronized": {"sources": ["ntpq"]}}, "'ntpq' is not one of timedatectl, timesync_file, adjtimex"),
    ({"reverse_tunnel": {"process_pattern": "ssh ("}}, "is not a valid regular expression"),
    ({"psu_gpio": {"lines": {"pg9": 1}}}, "unknown PSU line 'pg9'"),
    ({"psu_gpio": {"lines": {"pg1": "gpio12"}}}, "settings.psu_gpio.lines.pg1 must be a GPIO number"),
    ({"lan0_up": "lan0"}, "settings.lan0_up must be a mapping"),
    (["lan0_up"], "settings must be a mapping"),
])
def test_bad_settings_name_the_setting(settings, message):
    with pytest.raises(checks.SettingsError) as info:
        checks.resolve_settings(settings)
    assert message in str(info.value)


def test_selection():
    assert checks.select_checks(["all"], []) == checks.CHECK_NAMES
    assert checks.select_checks(["all"], ["psu_gpio", "mounts"]) == [
        n for n in checks.CHECK_NAMES if n not in ("psu_gpio", "mounts")]
    assert checks.select_checks(["lan0_up", "mounts"], []) == ["mounts", "lan0_up"]
    assert checks.select_checks(["none"], []) == []
    with pytest.raises(checks.SettingsError, match="unknown check 'lan0'"):
        checks.select_checks(["lan0"], [])


def test_waggle_config_gives_dirs_and_timeout(tmp_path, fixtures):
    text = (fixtures / "sanity_config.ini").read_text()
    text = text.replace("FATAL_DIR", str(tmp_path / "f")).replace("WARNING_DIR", str(tmp_path / "w"))
    (tmp_path / "config.ini").write_text(text)
    dirs, timeout = suite.read_waggle_config(str(tmp_path / "config.ini"))
    assert dirs == [{"path": str(tmp_path / "w"), "severity": "warning"},
                    {"path": str(tmp_path / "f"), "severity": "fatal"}]
    assert timeout == 7
    assert suite.read_waggle_config(str(tmp_path / "missing.ini")) == (None, None)


def R(result, severity):
    return {"result": result, "severity": severity}


@pytest.mark.parametrize("results, status", [
    ([], "pass"),
    ([R("pass", "fatal"), R("skipped", "fatal"), R("pass", "warning")], "pass"),
    ([R("pass", "fatal"), R("fail", "warning")], "warning"),
    ([R("fail", "warning"), R("fail", "fatal"), R("fail", "warning")], "fatal"),
    ([R("skipped", "fatal"), R("skipped", "warning")], "pass"),
])
def test_overall_status(results, status):
    assert suite.overall_status(results) == status


def only(name, **settings):
    return {"checks": [name], "settings": {name: settings}, "run_waggle_tests": False}


def test_run_suite_aggregates_waggle_tests_and_builtins(tmp_path, make_exe, sysnet):
    make_exe("ok.test", "echo fine", tmp_path / "fatal")
    make_exe("flaky.test", "echo 'Error: wan0 connectivity not up'; exit 1", tmp_path / "warning")
    make_exe("hang.test", "sleep 60", tmp_path / "warning")
    root = sysnet("lan0", "up")
    result = suite.run_suite(checks=["lan0_up", "k3s_node_ready"],
                             settings={"lan0_up": {"sys_class_net": root},
                                       "k3s_node_ready": {"kubectl": "/nonexistent/kubectl"},
                                       "node_identity": {"node_id_file": str(tmp_path / "node-id"),
                                                         "vsn_file": str(tmp_path / "vsn")}},
                             test_dirs=[{"path": str(tmp_path / "fatal"), "severity": "fatal"},
                                        {"path": str(tmp_path / "warning"), "severity": "warning"}],
                             waggle_config=str(tmp_path / "none.ini"), test_timeout=1)
    names = [(c["name"], c["source"], c["result"], c["rc"]) for c in result["checks"]]
    assert names == [("flaky", "waggle", "fail", 1), ("hang", "waggle", "fail", 127), ("ok", "waggle", "pass", 0),
                     ("k3s_node_ready", "builtin", "skipped", None), ("lan0_up", "builtin", "pass", 0)]
    assert result["status"] == "warning"
    assert result["totals"] == {"total": 5, "pass": 2, "fail": 2, "skipped": 1, "fatal_failed": 0,
                                "warning_failed": 2, "timed_out": 1}
    assert result["failed_checks"] == {"warning": ["flaky", "hang"], "fatal": []}
    assert result["test_timeout"] == 1
    assert result["node_id"] is None


def test_run_suite_fatal_and_severity_override(sysnet):
    root = sysnet("lan0", "down")
    fatal = suite.run_suite(**only("lan0_up", sys_class_net=root))
    assert fatal["status"] == "fatal"
    demoted = suite.run_suite(**only("lan0_up", sys_class_net=root, severity="warning"))
    assert demoted["status"] == "warning"
    assert demoted["checks"][0]["severity"] == "warning"


def test_a_crashing_check_counts_127(monkeypatch, sysnet):
    def boom(cfg, ctx):
        raise RuntimeError("sysfs exploded")

    monkeypatch.setitem(checks.CHECK_FUNCS, "lan0_up", boom)
    result = suite.run_suite(**only("lan0_up", sys_class_net=sysnet("lan0", "up")))
    check = result["checks"][0]
    assert (check["result"], check["rc"]) == ("fail", 127)
    assert "RuntimeError: sysfs exploded" in check["reason"]
    assert result["status"] == "fatal"


def test_default_dirs_come_from_waggle_config(tmp_path, fixtures, make_exe):
    text = (fixtures / "sanity_config.ini").read_text()
    text = text.replace("FATAL_DIR", str(tmp_path / "f")).replace("WARNING_DIR", str(tmp_path / "w"))
    (tmp_path / "config.ini").write_text(text)
    make_exe("a.test", "exit 0", tmp_path / "f")
    result = suite.run_suite(checks=["none"], waggle_config=str(tmp_path / "config.ini"))
    assert [c["name"] for c in result["checks"]] == ["a"]
    assert result["test_timeout"] == 7
    assert [(d["severity"], d["present"]) for d in result["test_dirs"]] == [("warning", False), ("fatal", True)]
    fallback = suite.run_suite(checks=["none"], waggle_config=str(tmp_path / "none.ini"), run_waggle_tests=False)
    assert fallback["test_timeout"] == 150


def test_bad_test_dir_severity_is_refused(tmp_path):
    with pytest.raises(checks.SettingsError, match="must be warning or fatal"):
        suite.run_suite(checks=["none"], test_dirs=[{"path": str(tmp_path), "severity": "interactive"}])
