"""paper_dqn.yml: parsed as rl-zoo3 parses it, the paper's settings for the seven games, the same Atari pipeline as
make_paper_atari_env, and clear errors for ids it cannot serve."""

import argparse
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecEnv, VecTransposeImage

from sb3_dqn_paper import make_paper_atari_env
from sb3_dqn_paper.zoo.hyperparams import default_hyperparams_path, load_hyperparams
from sb3_dqn_paper.zoo.registration import register

pytestmark = pytest.mark.zoo

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLE_1_GAMES = ["BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest", "SpaceInvaders"]
CLASSIC_CONTROL = ["CartPole-v1", "Acrobot-v1", "LunarLander-v3", "MountainCar-v0"]


@pytest.fixture(scope="module")
def hyperparams() -> dict:
    return load_hyperparams()


def experiment_manager(env_id: str, tmp_path: Path, **kwargs):
    """rl-zoo3's ExperimentManager for paper_dqn, as ``python -m rl_zoo3.train`` builds it (no -conf)."""
    register()
    from rl_zoo3.exp_manager import ExperimentManager

    return ExperimentManager(argparse.Namespace(), "paper_dqn", env_id, str(tmp_path / "logs"), **kwargs)


def rl_zoo3_env(env_id: str, tmp_path: Path, seed: int) -> VecEnv:
    """The training env rl-zoo3 builds from the yml entry (wrappers, frame stack, transpose)."""
    manager = experiment_manager(env_id, tmp_path, seed=seed)
    hyperparams, _ = manager.read_hyperparameters()
    _, manager.env_wrapper, _, manager.vec_env_wrapper = manager._preprocess_hyperparams(hyperparams)
    return manager.create_envs(1, no_log=True)


def test_file_found_by_default_is_the_repository_one() -> None:
    # an editable install (and a plain checkout) reads the top-level design file; a wheel reads its packaged copy
    path = default_hyperparams_path()
    assert path.name == "paper_dqn.yml"
    packaged = REPO_ROOT / "sb3_dqn_paper" / "hyperparams" / "paper_dqn.yml"
    assert path == (packaged if packaged.is_file() else REPO_ROOT / "hyperparams" / "paper_dqn.yml")
    # one hyperparameter file: the repository's hyperparams/paper_dqn.yml is a link to the package data rl-zoo3 reads
    assert (REPO_ROOT / "hyperparams" / "paper_dqn.yml").is_symlink()
    assert (REPO_ROOT / "hyperparams" / "paper_dqn.yml").resolve() == packaged.resolve()
    assert path.resolve() == packaged.resolve()
    assert "atari" in packaged.read_text()


def test_seven_games_and_fallback_have_the_paper_settings(hyperparams: dict) -> None:
    for entry_name in [f"{game}NoFrameskip-v4" for game in TABLE_1_GAMES] + ["atari"]:
        entry = hyperparams[entry_name]
        assert entry["policy"] == "CnnPolicy", entry_name
        assert entry["frame_stack"] == 4
        assert entry["n_timesteps"] == 1e7
        assert (entry["buffer_size"], entry["batch_size"]) == (1_000_000, 32)
        assert (entry["exploration_initial_eps"], entry["exploration_final_eps"], entry["exploration_steps"]) == (
            1.0,
            0.1,
            1_000_000,
        )
        assert (entry["train_freq"], entry["gradient_steps"]) == (1, -1)
        assert entry["target_update_interval"] is None and entry["loss"] == "mse"
        (wrapper,) = entry["env_wrapper"]
        ((wrapper_name, wrapper_kwargs),) = wrapper.items()
        assert wrapper_name == "sb3_dqn_paper.zoo.atari_wrapper.PaperAtariWrapper"
        expected_skip = {"atari": None, "SpaceInvadersNoFrameskip-v4": 3}.get(entry_name, 4)
        assert wrapper_kwargs.get("frame_skip") == expected_skip, entry_name


def test_atari_entries_hold_paper_dqn_defaults(hyperparams: dict) -> None:
    from sb3_dqn_paper import PaperDQN

    rl_zoo3_keys = {"env_wrapper", "frame_stack", "policy", "n_timesteps"}
    kwargs = {key: value for key, value in hyperparams["PongNoFrameskip-v4"].items() if key not in rl_zoo3_keys}
    model = PaperDQN("CnnPolicy", make_paper_atari_env("PongNoFrameskip-v4"), device="cpu", **{**kwargs, "buffer_size": 100})
    default = PaperDQN("CnnPolicy", make_paper_atari_env("PongNoFrameskip-v4"), buffer_size=100, device="cpu")
    for key in kwargs:
        if key != "buffer_size":
            assert getattr(model, key) == getattr(default, key), key
    assert type(model.policy.optimizer) is type(default.policy.optimizer)


def test_classic_control_entries_build_paper_dqn(hyperparams: dict, tmp_path: Path) -> None:
    for env_id in CLASSIC_CONTROL:
        assert env_id in hyperparams
        manager = experiment_manager(env_id, tmp_path)
        hyperparams_read, _ = manager.read_hyperparameters()
        processed, *_ = manager._preprocess_hyperparams(hyperparams_read)
        from sb3_dqn_paper import PaperDQN

        env = manager.create_envs(1, no_log=True)
        model = PaperDQN(env=env, device="cpu", **processed)
        assert model.n_envs == 1
        env.close()


@pytest.mark.parametrize(
    ("env_id", "frame_skip"), [("PongNoFrameskip-v4", 4), ("SpaceInvadersNoFrameskip-v4", 3), ("MsPacmanNoFrameskip-v4", 4)]
)
def test_rl_zoo3_builds_exactly_the_paper_pipeline(env_id: str, frame_skip: int, tmp_path: Path) -> None:
    # MsPacman has no entry: it gets the `atari` fallback
    zoo_env = rl_zoo3_env(env_id, tmp_path, seed=3)
    reference = VecTransposeImage(make_paper_atari_env(env_id, n_envs=1, seed=3))
    assert zoo_env.observation_space == reference.observation_space
    assert np.array_equal(zoo_env.reset(), reference.reset())
    rng = np.random.default_rng(0)
    for _ in range(200):
        actions = rng.integers(zoo_env.action_space.n, size=1)
        zoo_step, reference_step = zoo_env.step(actions), reference.step(actions)
        for zoo_part, reference_part in zip(zoo_step[:3], reference_step[:3], strict=True):  # observations, rewards, dones
            np.testing.assert_array_equal(zoo_part, reference_part)
    wrapper = zoo_env.venv.venv.envs[0]
    names, skips = [], []
    while hasattr(wrapper, "env"):
        names.append(type(wrapper).__name__)
        skips += [wrapper._skip] if hasattr(wrapper, "_skip") else []
        wrapper = wrapper.env
    assert skips == [frame_skip]
    assert names.index("Monitor") > names.index("NoopResetEnv"), "Monitor must sit below the Atari wrappers"
    zoo_env.close()
    reference.close()


def test_atari_id_with_its_own_frame_skip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"skips 4 frames by itself.*NoFrameskip-v4"):
        rl_zoo3_env("ALE/Pong-v5", tmp_path, seed=0)


def test_env_without_entry_and_without_fallback_is_a_clear_error(tmp_path: Path) -> None:
    manager = experiment_manager("Taxi-v4", tmp_path)
    with pytest.raises(ValueError, match=r"Hyperparameters not found for paper_dqn-Taxi-v4 in .*paper_dqn\.yml"):
        manager.read_hyperparameters()
    assert not (tmp_path / "logs").exists(), "nothing may be written before the error"


def test_malformed_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("- CartPole-v1\n- n_timesteps: 1\n")
    with pytest.raises(ValueError, match="must map env ids to dicts"):
        load_hyperparams(path)
