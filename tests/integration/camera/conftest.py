import pytest

from hctest.camera import CameraSimProcess


@pytest.fixture
def camsim(tmp_path):
    """Factory: camsim(**knobs) starts a simulator on 127.0.0.1 (free port); all stopped at teardown."""
    sims = []

    def start(name="cam", state=None, **knobs):
        import json
        state_dir = tmp_path / name
        state_dir.mkdir(exist_ok=True)
        if state is not None:
            (state_dir / "state.json").write_text(json.dumps(state))
        knobs.setdefault("speed", 400)
        knobs.setdefault("zoom_speed", 100)
        sim = CameraSimProcess(state_dir, **knobs)
        sims.append(sim)
        return sim.start()

    yield start
    for sim in sims:
        sim.stop()
