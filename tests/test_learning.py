"""Learning test: PaperDQN (no target network, squared error, centred RMSProp) solves CartPole-v1."""

import gymnasium as gym
import pytest
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_dqn_paper import PaperDQN

pytestmark = pytest.mark.slow

# Budget: 20,000 agent steps (one update per step), about a minute on 2 CPU cores.
CARTPOLE_SETTINGS = dict(
    learning_rate=1e-3,
    batch_size=64,
    buffer_size=50_000,
    learning_starts=1_000,
    exploration_steps=10_000,
    exploration_final_eps=0.02,
    policy_kwargs=dict(net_arch=[256, 256]),
)


def test_cartpole_reaches_150() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **CARTPOLE_SETTINGS)
    assert model.q_net_target is None and model.loss == "mse"
    model.learn(20_000)
    mean_return, _ = evaluate_policy(model, Monitor(gym.make("CartPole-v1")), n_eval_episodes=10, deterministic=True)
    assert mean_return >= 150, f"mean evaluation return {mean_return} < 150 after 20,000 steps"
