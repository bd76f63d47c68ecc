"""tools/bench/run.py: the bytes per node the collection reports, set against the relays' counts, and
their table in docs/benchmarks.md (the benchmark itself needs root and a fleet: `make bench`)."""

import importlib.util

from hctest.playbook import REPO


def _bench():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "tools" / "bench" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _traffic(wire_sent, wire_received, sent=0, received=0):
    return {"sent": sent, "received": received, "wire_estimate": {"sent": wire_sent, "received": wire_received}}


def test_reported_bytes_against_the_relays():
    bench = _bench()
    traffic = {"W001": _traffic(1000, 100, 1400, 200), "W002": _traffic(2000, 300, 2800, 400),
               "W003": _traffic(5, 5)}  # W003: no relay count (not in the fleet), left out
    carried = {"W001": {"down": 1050, "up": 100}, "W002": {"down": 2000, "up": 300}}
    rep = bench.reported_bytes(traffic, carried)
    assert rep["nodes"] == 2
    assert rep["wire_sent"] == (2000, 2000) and rep["wire_received"] == (300, 300)
    assert rep["handed"] == (3200, 3200)
    assert round(rep["deviation_pct"], 2) == round(100 * 50 / 1150, 2)
    assert bench.reported_bytes({}, carried)["deviation_pct"] is None


def test_the_table_shows_the_reported_bytes():
    bench = _bench()
    row = {"nodes": 8, "forks": 25, "load_before": 1.0, "load_after": 2.0, "baseline_s": 1.0, "ansible_s": 2.0,
           "upgrade_ratio": 2.0, "baseline_check_s": 1.0, "rerun_s": 1.5, "rerun_ratio": 1.5, "rerun_cold_s": 1.6,
           "rerun_cold_ratio": 1.6, "rerun_payload_bytes": 0, "ansible_cpu_s": 1.0, "baseline_cpu_s": 1.0,
           "rerun_cold_cpu_s": 1.0, "baseline_check_cpu_s": 1.0, "ansible_fleet_cpu_s": 1.0,
           "baseline_fleet_cpu_s": 1.0, "rerun_cold_fleet_cpu_s": 1.0, "baseline_check_fleet_cpu_s": 1.0,
           "overhead_per_node_s": 0.1, "module_runs_per_host": 1, "module_cpu_s": 0.3, "module_peak_mib": 27.0,
           "controller_peak_mib": 60, "applied": 8, "already_applied": 8, "link": "lte", "payload_bytes": 1900,
           "node_s": (5.0, 6.0), "node_down": (170000, 171000), "node_up": (5000, 6000), "rerun_node_s": (4.0, 4.5),
           "rerun_node_down": (163000, 163100), "rerun_node_up": (1300, 1400),
           "reported": {"wire_sent": (169000, 169500), "wire_received": (4000, 4100), "handed": (250000, 250100),
                        "deviation_pct": 1.25, "nodes": 8},
           "rerun_reported": None}
    text = bench.render([row], "2026-12-04 21:00 UTC", "machine", "link lte")
    assert "| 8 | lte | 169000 / 4000 (max 169500 / 4100) | 250000 / 250100 | 1.2 | - | - | - |" in text
