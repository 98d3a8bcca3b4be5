"""
PaperDQN runs through SB3's machinery: envs, multi-env, SB3's training arguments, callbacks, logger keys, progress
bar, TensorBoard, seeded runs.

A difference from SB3's ``DQN`` is checked here so that a change is noticed: ``gradient_steps=-1`` is the default
(one update per collected agent step, Algorithm 1). With a target network (not the paper's), ``target_update_interval``
is counted as SB3 counts it: every ``max(interval // n_envs, 1)`` calls of ``env.step``, with SB3's warning.
"""

import pathlib
from typing import Any

import pytest
import stable_baselines3.dqn.dqn
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.logger import configure

from sb3_dqn_paper import PaperDQN, make_paper_atari_env, paper_dqn

SMALL: dict[str, Any] = dict(buffer_size=500, learning_starts=50, batch_size=16, exploration_steps=100)


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


@pytest.mark.parametrize(("n_envs", "train_freq"), [(2, 1), (3, 1), (2, 3)])
def test_multi_env_keeps_one_update_per_agent_step(n_envs: int, train_freq: int) -> None:
    # gradient_steps=-1 (the default): as many updates as agent steps collected, over all envs, whatever train_freq
    env = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = PaperDQN("MlpPolicy", env, buffer_size=1000, learning_starts=60, train_freq=train_freq, seed=0)
    assert model.gradient_steps == -1
    callback = _Recorder()
    model.learn(300, callback=callback)
    assert model.num_timesteps == 300
    assert callback.calls == 300 // n_envs
    assert model._n_updates == 300 - 60
    assert model.logger.name_to_value["train/n_updates"] == model._n_updates


@pytest.mark.parametrize("train_freq", [1, 4, (1, "episode")])
def test_learns_with_sb3_s_train_freq(train_freq: Any) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", train_freq=train_freq, policy_kwargs=dict(net_arch=[32]), seed=0, **SMALL)
    model.learn(200)
    assert model.num_timesteps >= 200
    assert model._n_updates > 0


@pytest.mark.parametrize(("interval", "expected_syncs"), [(1, 20), (3, 20), (4, 10), (10, 4)])
def test_multi_env_target_updates_as_sb3(interval: int, expected_syncs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 envs x 20 calls of env.step: a sync every max(interval // 2, 1) calls, SB3's count; SB3's warning where 2 > interval
    model = PaperDQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), target_update_interval=interval, tau=0.5, **SMALL)
    syncs = []
    original = paper_dqn.polyak_update
    monkeypatch.setattr(paper_dqn, "polyak_update", lambda *args: (syncs.append(args[-1]), original(*args)))
    model.learn(40)
    assert syncs.count(0.5) == expected_syncs  # each sync also copies the batch-norm statistics (tau 1.0)
    sb3_kwargs = dict(buffer_size=500, learning_starts=50, batch_size=16, target_update_interval=interval, tau=0.5)
    sb3 = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), **sb3_kwargs)
    sb3_syncs = []
    record = lambda *args: (sb3_syncs.append(args[-1]), original(*args))  # noqa: E731
    monkeypatch.setattr(stable_baselines3.dqn.dqn, "polyak_update", record)
    sb3.learn(40)
    assert sb3_syncs.count(0.5) == expected_syncs


def test_multi_env_interval_below_n_envs_warns_as_sb3() -> None:
    with pytest.warns(UserWarning, match="The number of environments used is greater"):
        PaperDQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), target_update_interval=1, **SMALL)


def test_fake_image_env_cnn() -> None:
    env = FakeImageEnv(screen_height=84, screen_width=84, n_channels=4, discrete=True)
    model = PaperDQN("CnnPolicy", env, buffer_size=300, learning_starts=50, seed=0)
    model.learn(120)
    assert model._n_updates == 70


@pytest.mark.slow
def test_pong_5000_steps_runs_and_saves(tmp_path) -> None:
    """PaperDQN("CnnPolicy", make_paper_atari_env("PongNoFrameskip-v4")).learn(5000) runs and saves."""
    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0)
    model = PaperDQN("CnnPolicy", env, buffer_size=5000, learning_starts=4500, seed=0)
    model.learn(5000)
    assert model.num_timesteps == 5000 and model._n_updates == 500
    model.save(tmp_path / "pong")
    assert (tmp_path / "pong.zip").stat().st_size > 677_686 * 4  # float32 weights + RMSProp state


def test_progress_bar_and_tensorboard(tmp_path: pathlib.Path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, tensorboard_log=str(tmp_path), seed=0)
    model.learn(150, progress_bar=True)
    runs = list(tmp_path.glob("PaperDQN_*"))
    assert len(runs) == 1
    assert any(f.name.startswith("events.out.tfevents") for f in runs[0].iterdir())
    # a continued run writes to the same folder; another tb_log_name to its own
    model.learn(60, reset_num_timesteps=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["PaperDQN_1"]
    model.learn(60, tb_log_name="again")
    assert (tmp_path / "again_1").is_dir()


def test_seeded_runs_are_identical() -> None:
    # same seed: the same weights after training and the same actions and rewards after it
    results = []
    for _ in range(2):
        model = PaperDQN("MlpPolicy", "CartPole-v1", seed=42, policy_kwargs=dict(net_arch=[32]), device="cpu", **SMALL)
        model.learn(150)
        obs = model.env.reset()
        rewards = []
        for _ in range(20):
            action, _ = model.predict(obs)
            obs, reward, _, _ = model.env.step(action)
            rewards.append(float(reward[0]))
        results.append((rewards, [p.detach().clone() for p in model.policy.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(th.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


def test_sb3_callbacks_run(tmp_path: pathlib.Path) -> None:
    eval_env = make_vec_env("CartPole-v1", n_envs=1)
    stop = StopTrainingOnRewardThreshold(reward_threshold=1e9, verbose=0)
    callbacks = CallbackList(
        [
            EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=100, n_eval_episodes=2, log_path=str(tmp_path)),
            CheckpointCallback(save_freq=100, save_path=str(tmp_path / "ckpt"), name_prefix="rl_model"),
        ]
    )
    model = PaperDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(200, callback=callbacks)
    assert (tmp_path / "evaluations.npz").exists()
    assert sorted(path.name for path in (tmp_path / "ckpt").iterdir()) == ["rl_model_100_steps.zip", "rl_model_200_steps.zip"]
    assert isinstance(PaperDQN.load(tmp_path / "ckpt" / "rl_model_200_steps.zip"), PaperDQN)
    # a callback that returns False stops learn(): SB3's StopTrainingOnMaxEpisodes
    model.learn(10_000, callback=StopTrainingOnMaxEpisodes(max_episodes=2))
    assert model.num_timesteps < 10_000
