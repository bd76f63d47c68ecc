"""Fault: the tunnel flaps while the payload is being transferred (docs/upgrade.md, "Payload transfer").

The job phases (state check, install, verify, rollback) with the tunnel cut are the matrix's
``tunnel_drop`` (test_matrix.py); this is the phase before them. Two nodes of the fault fleet get a
shaped link whose tunnel flaps every few seconds while a payload crosses it:

* W001: the flap closes the connections at once (a modem reset): each exec fails, the transfer
  reconnects and resumes.
* W002: the flap black-holes them (an LTE re-attach with a new address): the exec hangs until
  ``transfer_stall_timeout`` resets the connection.

Both must be installed (``applied``, or ``already_applied`` when a flap also cut the module run after
the transfer) in that run or the next one, hold exactly the payload in their store, no
partial file, and a consistent journal.
"""

from __future__ import annotations

import json

import pytest
from hctest import faults as hf
from hctest.transfer import MIB, blob_payload, sha256, store_leftovers

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

LINKS = {"W001": "lan/down_kbit=1000/flap_every=8/flap_down=1/flap_silent=0",
         "W002": "lan/down_kbit=500/flap_every=20/flap_down=1/flap_silent=1"}
DONE = ("applied", "already_applied")
SIZE = 2 * MIB  # the fault fleet's state dirs are 8 MB tmpfs: store entry + extracted job copy fit


# W002's black-holed connections are only noticed by the stall timeout: minutes per case, so `make faults`
@pytest.mark.parametrize("vsn", ["W001", pytest.param("W002", marks=pytest.mark.faults_full)])
def test_tunnel_flap_during_transfer(fault_fleet, tmp_path, vsn):
    ff = fault_fleet
    name = f"hcx-flap-{vsn.lower()}"
    payload = blob_payload(tmp_path, name, SIZE)
    ff.f.cli("bytes", vsn, "--reset")
    ff.f.cli("link", vsn, LINKS[vsn])
    results = []
    try:
        for n in (1, 2):
            code, out, res = ff.run(payload, tmp_path / f"r{n}.json", "-e", "honeycomb_transfer_stall_timeout=5",
                                    target=vsn, timeout=900)
            results.append(res.get(vsn) or {})
            if results[-1].get("status") in DONE:
                break
    finally:
        ff.f.cli("link", vsn, "lan")
    relay = json.loads(ff.f.cli("bytes", vsn, "--json").stdout)
    figures = {"relay": relay, "runs": [{k: r.get(k) for k in ("status", "msg", "transfer")} for r in results]}
    print(f"tunnel flap during transfer on {vsn}:", json.dumps(figures))
    # a flap may also cut the module run after the transfer: ssh's own retry then runs the module again,
    # which finds the job done (already_applied), or the next run does
    assert results[-1].get("status") in DONE, (figures, out[-4000:])
    assert (ff.node_dir(vsn) / "etc-waggle" / "hc-test" / name / "version").read_text().strip() == "1.0"
    assert relay["flaps"] >= 1, figures
    transfers = [r["transfer"] for r in results if r.get("transfer")]
    assert sum(t["attempts"] for t in transfers) >= 2, figures  # the flap did hit the transfer
    if vsn == "W002":
        assert sum(t["stalls"] for t in transfers) >= 1, figures
    assert sum(t["bytes_sent"] - t["bytes_resent"] for t in transfers) == payload.stat().st_size
    state = ff.state_dir(vsn)
    assert sha256(state / "payloads" / (sha256(payload) + ".tar.gz")) == sha256(payload)
    assert store_leftovers(state) == [] and hf.stray_files(state) == []
    for job in hf.read_jobs(state).values():
        assert hf.journal_problems(job) == [], job
