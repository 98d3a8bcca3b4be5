"""
SB3 save/load: parameters, optimizer state, deterministic actions and settings survive a round trip, to a path or a
file object; get/set_parameters; the replay buffer saved and loaded on its own.
"""

import io
import pathlib
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.rmsprop import CenteredRMSprop

SMALL: dict[str, Any] = dict(buffer_size=500, learning_starts=50, batch_size=16, exploration_steps=100)


def test_round_trip_cnn(tmp_path, pong_env) -> None:
    model = PaperDQN("CnnPolicy", pong_env, buffer_size=500, learning_starts=50, seed=0, device="cpu")
    model.learn(100)
    obs = np.stack([pong_env.observation_space.sample() for _ in range(8)])
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")

    loaded = PaperDQN.load(tmp_path / "model", env=pong_env, device="cpu")
    for (name, a), (_, b) in zip(model.policy.state_dict().items(), loaded.policy.state_dict().items(), strict=True):
        assert th.equal(a, b), name
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    # optimizer: same class and the RMSProp accumulators restored
    assert isinstance(loaded.policy.optimizer, CenteredRMSprop)
    saved_state = model.policy.optimizer.state_dict()["state"]
    loaded_state = loaded.policy.optimizer.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys() and len(saved_state) > 0
    for key in saved_state:
        assert th.equal(saved_state[key]["square_avg"], loaded_state[key]["square_avg"])
    for attr in ("exploration_steps", "exploration_final_eps", "loss", "target_update_interval", "num_timesteps"):
        assert getattr(loaded, attr) == getattr(model, attr), attr
    assert loaded.q_net_target is None
    # training continues after loading
    loaded.learn(20, reset_num_timesteps=False)
    assert loaded.num_timesteps == 120


def test_round_trip_with_target_network_and_set_parameters(tmp_path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", target_update_interval=10, learning_starts=20, buffer_size=200, seed=0)
    model.learn(60)
    model.save(tmp_path / "mlp.zip")
    loaded = PaperDQN.load(tmp_path / "mlp.zip")
    assert loaded.q_net_target is not None
    for a, b in zip(model.q_net_target.parameters(), loaded.q_net_target.parameters(), strict=True):
        assert th.equal(a, b)

    fresh = PaperDQN("MlpPolicy", "CartPole-v1", target_update_interval=10, buffer_size=200, seed=1)
    fresh.set_parameters(tmp_path / "mlp.zip")
    for a, b in zip(model.q_net.parameters(), fresh.q_net.parameters(), strict=True):
        assert th.equal(a, b)
    assert fresh.get_env() is not None


def test_round_trip_channel_last_images_gives_the_same_q_values(tmp_path: pathlib.Path) -> None:
    # channel-last frames, transposed by SB3's VecTransposeImage; loaded without an env
    def image_env() -> FakeImageEnv:
        return FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=True)

    model = PaperDQN("CnnPolicy", image_env(), seed=0, **SMALL)
    model.learn(60)
    obs = image_env().reset(seed=1)[0]
    action, _ = model.predict(obs, deterministic=True)
    q_values = model.q_net(model.policy.obs_to_tensor(obs)[0])
    model.save(tmp_path / "cnn.zip")
    loaded = PaperDQN.load(tmp_path / "cnn.zip")
    assert loaded.predict(obs, deterministic=True)[0] == action
    assert th.equal(loaded.q_net(loaded.policy.obs_to_tensor(obs)[0]), q_values)


def test_parameters_buffer_and_file_objects(tmp_path: pathlib.Path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", seed=0, **SMALL)
    model.learn(100)
    params = {name: value.clone() for name, value in model.policy.state_dict().items()}
    # to a path, without suffix (SB3 appends .zip), and to a file object
    model.save(tmp_path / "model")
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    for source in (tmp_path / "model.zip", buffer):
        loaded = PaperDQN.load(source, env=make_vec_env("CartPole-v1"))
        assert loaded.num_timesteps == 100
        for name, value in loaded.policy.state_dict().items():
            assert th.equal(value, params[name]), name
        loaded.learn(20, reset_num_timesteps=False)
    # get/set_parameters round trip
    other = PaperDQN("MlpPolicy", "CartPole-v1", seed=5, **SMALL)
    other.set_parameters(model.get_parameters())
    for name, value in other.policy.state_dict().items():
        assert th.equal(value, params[name]), name
    # replay buffer
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    fresh = PaperDQN("MlpPolicy", "CartPole-v1", **SMALL)
    fresh.load_replay_buffer(tmp_path / "buffer.pkl")
    assert fresh.replay_buffer.size() == model.replay_buffer.size()
    assert np.array_equal(fresh.replay_buffer.observations, model.replay_buffer.observations)
