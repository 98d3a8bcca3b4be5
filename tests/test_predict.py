"""predict(): single and vectorized observations, greedy or epsilon-greedy, and a wrong shape refused."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from sb3_dqn_paper import PaperDQN


def test_predict_single_and_vectorized_observations() -> None:
    env = gym.make("CartPole-v1")
    model = PaperDQN("MlpPolicy", env, buffer_size=100)
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action)) and np.shape(action) == () and state is None
    vec_env = make_vec_env("CartPole-v1", n_envs=3)
    actions, _ = model.predict(vec_env.reset(), deterministic=True)
    assert actions.shape == (3,)
    actions, _ = model.predict(vec_env.reset(), deterministic=False)  # epsilon-greedy, epsilon 1 before training
    assert actions.shape == (3,)
    with pytest.raises(ValueError):
        model.predict(np.zeros(7, dtype=np.float32))
