"""SB3 save/load: parameters, optimizer state, deterministic actions and settings survive a round trip."""

import numpy as np
import torch as th

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.rmsprop import CenteredRMSprop


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
