"""The option checks shared by the camera modules name the option and the rule it breaks."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.common import check_numbers


class Failed(Exception):
    pass


class FakeModule(object):
    def __init__(self, **params):
        self.params = params
        self.failed = None

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise Failed(kwargs["msg"])


def test_valid_numbers_pass_and_none_is_not_checked():
    check_numbers(FakeModule(timeout=1.0, channel=0, port=None), positive=("timeout", "port"), non_negative=("channel",))


@pytest.mark.parametrize("params,msg", [
    ({"timeout": 0, "channel": 0}, "timeout must be positive, got 0"),
    ({"timeout": -2.5, "channel": 0}, "timeout must be positive, got -2.5"),
    ({"timeout": 1, "channel": -1}, "channel must be 0 or more, got -1"),
])
def test_bad_numbers_fail_naming_the_option(params, msg):
    module = FakeModule(**params)
    with pytest.raises(Failed, match=msg):
        check_numbers(module, positive=("timeout",), non_negative=("channel",), error_kind="input")
    assert module.failed["error_kind"] == "input"
