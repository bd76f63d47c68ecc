"""tools/bench/cpu_split.py: perf samples split by kind of process."""

import importlib.util

from hctest.playbook import REPO

_spec = importlib.util.spec_from_file_location("bench_cpu_split", REPO / "tools" / "bench" / "cpu_split.py")
cpu_split = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpu_split)


def test_samples_are_split_by_process_kind():
    lines = [
        "ansible-playboo  4100  100.000010:",   # the earliest ansible sample: the main process
        "ansible-playboo  4100  100.500000:",
        "ansible-playboo  4200  100.600000:",   # a forked worker
        "ansible-playboo  4201  100.700000:",
        "ssh  4300  100.650000:",
        "ssh  4301  100.660000:",
        "ssh  4302  100.670000:",
        "ssh-keygen  4400  100.680000:",
        "garbage",
    ]
    got = cpu_split.classify(lines)
    hz = cpu_split.HZ
    assert got == {"ansible main": 2 / hz, "ansible workers": 2 / hz, "ssh": 3 / hz, "other": 1 / hz}


def test_no_samples():
    assert cpu_split.classify([]) == dict((k, 0.0) for k in cpu_split.KINDS)
