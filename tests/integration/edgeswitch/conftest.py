import os
import shutil

import pytest

from hctest.edgeswitch import SwitchLab


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration/edgeswitch" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (network namespaces)")
    base = tmp_path_factory.mktemp("edgeswitch")
    lab = SwitchLab.start(base)
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture
def switch(lab):
    lab.reset()
    yield lab
    lab.reset()
