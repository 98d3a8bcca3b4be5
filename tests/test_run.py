"""PaperDQN runs through SB3's machinery: envs, multi-env, callbacks, logger keys, progress bar, tensorboard."""

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.logger import configure

from sb3_dqn_paper import PaperDQN, make_paper_atari_env


class _Recorder(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def _on_step(self) -> bool:
        self.calls += 1
        return True


def test_cartpole_one_update_per_agent_step(tmp_path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=1000, learning_starts=100, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(400, log_interval=1)
    assert model.num_timesteps == 400
    assert model._n_updates == 300  # Algorithm 1: one minibatch update per agent step after learning_starts
    keys = open(tmp_path / "progress.csv").readline().strip().split(",")
    for key in ("train/loss", "train/n_updates", "rollout/exploration_rate"):
        assert key in keys


@pytest.mark.parametrize("n_envs", [2, 3])
def test_multi_env_keeps_one_update_per_agent_step(n_envs: int) -> None:
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = PaperDQN("MlpPolicy", env, buffer_size=1000, learning_starts=60, seed=0)
    callback = _Recorder()
    model.learn(300, callback=callback)
    assert model.num_timesteps == 300
    assert callback.calls == 300 // n_envs
    assert model._n_updates == 300 - 60


def test_fake_image_env_cnn() -> None:
    env = FakeImageEnv(screen_height=84, screen_width=84, n_channels=4, discrete=True)
    model = PaperDQN("CnnPolicy", env, buffer_size=300, learning_starts=50, seed=0)
    model.learn(120)
    assert model._n_updates == 70


@pytest.mark.slow
def test_pong_5000_steps_runs_and_saves(tmp_path) -> None:
    """Issue check: PaperDQN("CnnPolicy", make_paper_atari_env("PongNoFrameskip-v4")).learn(5000) runs and saves."""
    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0)
    model = PaperDQN("CnnPolicy", env, buffer_size=5000, learning_starts=4500, seed=0)
    model.learn(5000)
    assert model.num_timesteps == 5000 and model._n_updates == 500
    model.save(tmp_path / "pong")
    assert (tmp_path / "pong.zip").stat().st_size > 677_686 * 4  # float32 weights + RMSProp state


def test_progress_bar_and_tensorboard(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, tensorboard_log=str(tmp_path), seed=0)
    model.learn(150, progress_bar=True)
    runs = list(tmp_path.glob("PaperDQN_*"))
    assert len(runs) == 1
    assert any(f.name.startswith("events.out.tfevents") for f in runs[0].iterdir())


def test_seeded_runs_are_identical() -> None:
    def run() -> np.ndarray:
        model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, seed=3, device="cpu")
        model.learn(200)
        return np.concatenate([p.detach().numpy().ravel() for p in model.q_net.parameters()])

    assert np.array_equal(run(), run())
