import pytest

from hctest.edgeswitch import SwitchLab
from hctest.requires import require_system_tool, skip_unless_root


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration/edgeswitch" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    skip_unless_root("the switch lab is two network namespaces")
    require_system_tool("ip", "iproute2")
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
