"""
Epsilon schedule: linear over an absolute number of agent steps (``exploration_steps``, the paper's first million
frames), then constant; epsilon-greedy predict. SB3's ``exploration_fraction`` (a fraction of the budget) does not exist.
"""

import numpy as np
import pytest

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.exploration import first_step_at, linear_epsilon


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 1.0), (250_000, 0.775), (500_000, 0.55), (999_999, 0.1000009), (1_000_000, 0.1), (5_000_000, 0.1)],
)
def test_paper_schedule_at_chosen_steps(step: int, expected: float) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, device="cpu")
    assert (model.exploration_initial_eps, model.exploration_final_eps, model.exploration_steps) == (1.0, 0.1, 1_000_000)
    settings = (model.exploration_initial_eps, model.exploration_final_eps, model.exploration_steps)
    assert linear_epsilon(step, *settings) == pytest.approx(expected, abs=1e-7)


def test_schedule_does_not_depend_on_total_timesteps() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=1000, learning_starts=1000, exploration_steps=400, device="cpu")
    model.learn(200)
    assert model.exploration_rate == pytest.approx(1.0 - 0.9 * 200 / 400)
    model.learn(300, reset_num_timesteps=False)
    assert model.exploration_rate == pytest.approx(0.1)


def test_exploration_fraction_is_not_an_argument() -> None:
    with pytest.raises(TypeError, match="exploration_fraction"):
        PaperDQN("MlpPolicy", "CartPole-v1", exploration_fraction=0.1)


def test_multi_env_counts_agent_steps() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=4, seed=0)
    model = PaperDQN("MlpPolicy", env, buffer_size=1000, learning_starts=1000, exploration_steps=400, device="cpu")
    model.learn(200)
    assert model.num_timesteps == 200
    assert model.exploration_rate == pytest.approx(1.0 - 0.9 * 200 / 400)


def test_predict_is_epsilon_greedy() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, seed=0, device="cpu")
    obs = np.zeros((2000, 4), dtype=np.float32)
    greedy, _ = model.predict(obs, deterministic=True)
    assert len(set(greedy.tolist())) == 1  # same observation -> same greedy action
    model.exploration_rate = 0.0
    assert np.array_equal(model.predict(obs, deterministic=False)[0], greedy)
    model.exploration_rate = 1.0
    np.random.seed(0)
    random_actions = np.stack([model.predict(obs[0], deterministic=False)[0] for _ in range(2000)])
    # uniform over 2 actions: about half differ from the greedy one
    assert 0.45 < np.mean(random_actions != greedy[0]) < 0.55
    model.exploration_rate = 0.05
    np.random.seed(1)
    mixed = np.stack([model.predict(obs[0], deterministic=False)[0] for _ in range(4000)])
    # epsilon 0.05, half of the random actions equal the greedy one: ~2.5% differ
    assert 0.015 < np.mean(mixed != greedy[0]) < 0.035


def test_first_step_at_inverts_the_schedule() -> None:
    assert first_step_at(1.0) == 0
    assert first_step_at(0.55) == 500_000
    assert first_step_at(0.1) == 1_000_000
    assert first_step_at(0.05) is None and first_step_at(0.0) is None
    for settings in ((1.0, 0.1, 1_000_000), (1.0, 0.1, 250_000), (0.5, 0.01, 77_777)):
        for epsilon in (0.9, 0.7, 0.5, 0.3, 0.123, 0.011):
            step = first_step_at(epsilon, *settings)
            if epsilon >= settings[0] or epsilon < settings[1]:
                assert step == (0 if epsilon >= settings[0] else None)
                continue
            assert linear_epsilon(step, *settings) <= epsilon + 1e-12
            assert linear_epsilon(step - 1, *settings) > epsilon
