"""Q(s, a) against the discounted clipped return that followed (sb3_dqn_paper.overestimation)."""

import json

import gymnasium as gym
import numpy as np
import pytest

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.overestimation import KIND, discounted_returns, main, play_and_compare


def test_discounted_returns_end_at_each_episode_end() -> None:
    rewards = np.array([1.0, 0.0, 1.0, -1.0, 1.0, 1.0, 0.0])
    ends = np.array([False, False, True, True, False, False, False])
    gamma = 0.9
    returns = discounted_returns(rewards, ends, gamma)
    # episode 1: steps 0-2, episode 2: step 3, then an unfinished episode (steps 4-6): unknown returns
    expected = [1 + gamma * 0 + gamma**2 * 1, 0 + gamma * 1, 1.0, -1.0]
    np.testing.assert_allclose(returns[:4], expected)
    assert np.isnan(returns[4:]).all()
    # a nan reward (a truncated episode) makes its whole episode unknown, not the one before
    rewards[5], ends[5] = np.nan, True
    returns = discounted_returns(rewards, ends, gamma)
    np.testing.assert_allclose(returns[:4], expected)
    assert np.isnan(returns[4:]).all()
    with pytest.raises(InvalidArgumentError, match="differ in shape"):
        discounted_returns(rewards, ends[:-1], gamma)


def test_cartpole_returns_are_the_geometric_sums_of_the_episode_lengths(tmp_path) -> None:
    """On CartPole every reward is 1, so the return of step t of an episode of T steps is (1 - g^(T-t)) / (1 - g)."""
    model = PaperDQN("MlpPolicy", gym.make("CartPole-v1"), buffer_size=100, learning_starts=10, seed=0, device="cpu")
    gamma = model.gamma
    result = play_and_compare(model, "CartPole-v1", n_steps=300, epsilon=1.0, seed=2)
    assert result["kind"] == KIND and result["epsilon"] == 1.0 and result["gamma"] == gamma
    assert result["episodes"] >= 3 and result["steps"] <= 300
    # rebuild the expected mean return from the episode lengths of the same seeded play
    from sb3_dqn_paper.evaluate import make_evaluation_env

    env = make_evaluation_env("CartPole-v1", 2)
    rng = np.random.default_rng(2)
    env.reset()
    lengths, length, returns = [], 0, []
    for _ in range(300):
        rng.random()  # the epsilon draw
        _, _, done, _ = env.step(np.array([int(rng.integers(2))]))
        length += 1
        if done[0]:
            lengths.append(length)
            returns += [(1 - gamma ** (length - t)) / (1 - gamma) for t in range(length)]
            length = 0
    env.close()
    assert result["episodes"] == len(lengths) and result["steps"] == sum(lengths)
    assert result["mean_return"] == pytest.approx(np.mean(returns))
    assert result["mean_excess"] == pytest.approx(result["mean_q"] - result["mean_return"])
    out = tmp_path / "o.json"
    model.save(tmp_path / "m.zip")
    args = [str(tmp_path / "m.zip"), "--env", "CartPole-v1", "--steps", "300", "--epsilon", "1", "--seed", "2"]
    assert main([*args, "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["models"]
    assert row["mean_return"] == pytest.approx(result["mean_return"]) and row["mean_q"] == pytest.approx(result["mean_q"])


def test_bad_input_is_refused_before_playing(tmp_path, capsys) -> None:
    assert main([str(tmp_path / "missing.zip"), "--env", "CartPole-v1"]) == 2
    assert "No such model file" in capsys.readouterr().err
    model = PaperDQN("MlpPolicy", gym.make("CartPole-v1"), buffer_size=100, seed=0, device="cpu")
    with pytest.raises(InvalidArgumentError, match="epsilon"):
        play_and_compare(model, "CartPole-v1", n_steps=10, epsilon=1.5)
    with pytest.raises(InvalidArgumentError, match="shape"):
        play_and_compare(model, "Acrobot-v1", n_steps=10)
