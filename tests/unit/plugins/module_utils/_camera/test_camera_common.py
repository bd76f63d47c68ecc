"""The option checks shared by the camera modules name the option and the rule it breaks; a manager's result
becomes the module result the same way in every changing camera module."""

import pytest

from ansible_collections.waggle.honeycomb.plugins.module_utils._camera.common import check_numbers, exit_with_result


class Failed(Exception):
    pass


class Exited(Exception):
    pass


class FakeModule(object):
    def __init__(self, **params):
        self.params = params
        self.failed = None
        self.exited = None
        self.warnings = []
        self._diff = False

    def warn(self, warning):
        self.warnings.append(warning)

    def exit_json(self, **kwargs):
        self.exited = kwargs
        raise Exited()

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


def _result():
    return {"changed": True, "warnings": ["presets 3 and 4 were not checked"], "before": {"firmware": "1"},
            "after": {"firmware": "2"}, "polls": 7, "actions": ["configbackup"]}


def test_exit_with_result_warns_and_leaves_out_the_dropped_keys():
    module = FakeModule()
    with pytest.raises(Exited):
        exit_with_result(module, _result(), drop=("polls", "not_there"))
    assert module.warnings == ["presets 3 and 4 were not checked"]
    assert module.exited == {"changed": True, "before": {"firmware": "1"}, "after": {"firmware": "2"},
                             "actions": ["configbackup"]}


def test_exit_with_result_adds_before_and_after_as_the_diff_in_diff_mode():
    module = FakeModule()
    module._diff = True
    with pytest.raises(Exited):
        exit_with_result(module, _result())
    assert module.exited["diff"] == {"before": {"firmware": "1"}, "after": {"firmware": "2"}}
    assert module.exited["polls"] == 7 and "warnings" not in module.exited
