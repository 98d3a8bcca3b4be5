"""The trained agents shipped in agents/: each loads with PaperDQN.load, matches its provenance file, and
rl_zoo3.enjoy plays it from that folder."""

import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from zoo_cli import require_installed_hook, run_python

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.checkpoint import REPLAY_BUFFER_ENTRY
from sb3_dqn_paper.tools.export import AGENT_INFO_FILE

AGENTS = Path(__file__).resolve().parent.parent / "agents"
RUN_FOLDERS = sorted(path for path in (AGENTS / "paper_dqn").iterdir() if path.is_dir()) if AGENTS.is_dir() else []


def test_agents_are_shipped() -> None:
    games = {folder.name.rsplit("_", 1)[0] for folder in RUN_FOLDERS}
    assert len(games) >= 2, f"expected trained agents of at least two games in {AGENTS}/paper_dqn, found {sorted(games)}"


@pytest.mark.parametrize("run_folder", RUN_FOLDERS, ids=[folder.name for folder in RUN_FOLDERS])
def test_agent_loads_and_matches_its_provenance(run_folder: Path) -> None:
    env_id = run_folder.name.rsplit("_", 1)[0]
    model_file = run_folder / f"{env_id}.zip"
    info = json.loads((run_folder / env_id / AGENT_INFO_FILE).read_text())
    assert info["env_id"] == env_id
    assert info["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert model_file.stat().st_size < 10_000_000  # no replay buffer: a few MB
    with zipfile.ZipFile(model_file) as archive:
        assert REPLAY_BUFFER_ENTRY not in archive.namelist()
    model = PaperDQN.load(model_file, device="cpu")
    assert model.num_timesteps == info["num_timesteps"] and model._n_updates == info["n_updates"]
    assert model.observation_space.shape == (4, 84, 84)
    # the paper's defaults: no target network, squared error, epsilon over 1M steps
    assert model.q_net_target is None and model.loss == "mse" and model.exploration_steps == 1_000_000
    config = dict(yaml.load((run_folder / env_id / "config.yml").read_text(), Loader=yaml.UnsafeLoader))
    (wrapper,) = config["env_wrapper"]
    assert "sb3_dqn_paper.zoo.atari_wrapper.PaperAtariWrapper" in wrapper
    assert config["frame_stack"] == 4


@pytest.mark.zoo
@pytest.mark.slow
@pytest.mark.parametrize("run_folder", RUN_FOLDERS, ids=[folder.name for folder in RUN_FOLDERS])
def test_enjoy_plays_the_shipped_agent(run_folder: Path, tmp_path: Path) -> None:
    require_installed_hook()
    env_id = run_folder.name.rsplit("_", 1)[0]
    result = run_python(
        ["-m", "rl_zoo3.enjoy", "--algo", "paper_dqn", "--env", env_id, "-f", str(AGENTS), "--no-render", "-n", "300"],
        cwd=tmp_path,
    )
    assert f"Loading {run_folder / env_id}.zip" in result.stdout, result.stdout[-2000:]
    assert not re.search(r"Traceback", result.stderr)
