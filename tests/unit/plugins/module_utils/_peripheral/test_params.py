"""The parameters every peripheral handler reads the same way: password and firmware image."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import HandlerError
from ansible_collections.waggle.honeycomb.plugins.module_utils._peripheral import params


def test_secret_order_parameter_then_file_then_environment(tmp_path, monkeypatch):
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("HC_TEST_PW", "from-env")
    assert params.secret({"password": "p", "password_file": str(secret_file)}, "camera", env="HC_TEST_PW") == "p"
    assert params.secret({"password_file": str(secret_file)}, "camera", env="HC_TEST_PW") == "from-file"
    assert params.secret({}, "camera", env="HC_TEST_PW") == "from-env"


def test_secret_missing_names_device_and_what_to_set(monkeypatch):
    monkeypatch.delenv("HC_TEST_PW", raising=False)
    with pytest.raises(HandlerError, match="no switch password: pass password as a secret parameter"):
        params.secret({}, "switch", env="HC_TEST_PW")
    with pytest.raises(HandlerError, match="cannot read password_file /nonexistent/pw"):
        params.secret({"password_file": "/nonexistent/pw"}, "switch")


def test_image_explicit_relative_absolute_and_the_only_one(tmp_path):
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "a.img").write_bytes(b"x")
    base = {"payload_dir": str(tmp_path)}
    assert params.image(base, ".img") == str(tmp_path / "firmware" / "a.img")
    assert params.image(dict(base, image="other.img"), ".img") == str(tmp_path / "other.img")
    assert params.image(dict(base, image="/abs.img"), ".img") == "/abs.img"


@pytest.mark.parametrize("names", [[], ["a.stk", "b.stk"]])
def test_image_none_or_several_is_an_error_saying_to_set_image(tmp_path, names):
    (tmp_path / "firmware").mkdir()
    for name in names:
        (tmp_path / "firmware" / name).write_bytes(b"x")
    with pytest.raises(HandlerError, match=r"exactly one firmware/\*\.stk in the payload, found %d: set parameter image"
                       % len(names)):
        params.image({"payload_dir": str(tmp_path)}, ".stk")
