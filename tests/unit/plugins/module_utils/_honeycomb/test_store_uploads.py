"""Uploads written straight into the store directory by the action plugin (``payloads/.upload-*``):
the engine moves them into the store, and a stale one (its connection died before the module ran) is
pruned after the store's grace period, while a recent one (a run still on its way) is kept."""

import os

from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import engine as eng
from ansible_collections.waggle.honeycomb.plugins.module_utils._honeycomb import payload as pl

from hctest.upgrade import engine_params, make_payload


def run(state, payload_path, upload=None):
    p = engine_params(state, _payload_sha256=pl.sha256_file(str(payload_path)),
                      _payload_upload=str(upload) if upload else None)
    return eng.Engine(p).run()


def test_upload_inside_the_store_dir_is_moved_into_the_store(tmp_path):
    state = tmp_path / "state"
    payload = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    sha = pl.sha256_file(str(payload))
    store = state / "payloads"
    store.mkdir(parents=True)
    upload = store / (".upload-%s-0123456789abcdef" % sha)
    upload.write_bytes(open(str(payload), "rb").read())
    r = run(state, payload, upload)
    assert r["status"] == "already_applied" and r["payload_transferred"] is True, r
    assert sorted(os.listdir(str(store))) == [sha + ".tar.gz"]


def test_stale_uploads_are_pruned_recent_ones_kept(tmp_path):
    state = tmp_path / "state"
    payload = make_payload(tmp_path, scripts={"state_check": "exit 100"})
    assert run(state, payload, _copy(payload, tmp_path / "up.tar.gz"))["status"] == "already_applied"
    store = state / "payloads"
    stale = store / (".upload-%s-%s" % ("0" * 64, "a" * 16))
    recent = store / (".upload-%s-%s" % ("1" * 64, "b" * 16))
    stale.write_bytes(b"partial")
    recent.write_bytes(b"partial")
    old = os.path.getmtime(str(stale)) - eng.STORE_GRACE - 60
    os.utime(str(stale), (old, old))
    assert run(state, payload)["status"] == "already_applied"
    assert not stale.exists() and recent.exists()


def _copy(src, dest):
    dest.write_bytes(open(str(src), "rb").read())
    return dest
