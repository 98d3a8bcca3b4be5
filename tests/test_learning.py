"""
Learning tests: PaperDQN (no target network, squared error, centred RMSProp) solves CartPole-v1, and learns SB3's
``IdentityEnv`` as SB3's ``test_identity`` asks of DQN.
"""

import gymnasium as gym
import pytest
import torch as th
from stable_baselines3.common.envs import IdentityEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

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


def cartpole_mean_return(model: PaperDQN, n_episodes: int = 50, seed: int = 0) -> float:
    """
    The greedy policy's mean return over ``n_episodes`` CartPole games from a seeded env, so that a test's verdict does
    not depend on unseeded start states: with 10 unseeded games the bf16 test's model scored 136.5 in one full-suite
    run and passed in others (its mean over 50 games from seed 100: 166.5; Intel Xeon, emulated bf16).
    """
    env = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))])
    env.seed(seed)
    mean_return, _ = evaluate_policy(model, env, n_eval_episodes=n_episodes, deterministic=True)
    env.close()
    return float(mean_return)


def test_cartpole_reaches_150() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", **CARTPOLE_SETTINGS)
    assert model.q_net_target is None and model.loss == "mse"
    model.learn(20_000)
    mean_return = cartpole_mean_return(model)
    assert mean_return >= 150, f"mean evaluation return {mean_return} < 150 after 20,000 steps"


def test_identity_discrete_is_learned() -> None:
    # SB3 test_identity: reward threshold 90 of 100 on IdentityEnv(10) (episodes of 100 steps)
    env = DummyVecEnv([lambda: Monitor(IdentityEnv(10))])
    model = PaperDQN(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        gamma=0.4,
        learning_starts=100,
        buffer_size=2000,
        exploration_steps=600,
        exploration_final_eps=0.02,
        policy_kwargs=dict(net_arch=[64], optimizer_class=th.optim.Adam),
        seed=3,
    )
    model.learn(1200)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=3, deterministic=True)
    assert mean_reward >= 90
