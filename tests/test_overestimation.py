"""Q(s, a) against the discounted clipped return that followed (sb3_dqn_paper.tools.overestimation)."""

import errno
import json
import os

import gymnasium as gym
import numpy as np
import pytest

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.overestimation import KIND, discounted_returns, main, play_and_compare


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
    from sb3_dqn_paper.tools.common import make_evaluation_env

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
    with pytest.raises(InvalidArgumentError, match=r"has the action space Discrete\(3\)"):
        play_and_compare(model, "Acrobot-v1", n_steps=10)


def _cartpole_model_file(tmp_path) -> str:
    path = tmp_path / "m.zip"
    PaperDQN("MlpPolicy", gym.make("CartPole-v1"), buffer_size=100, learning_starts=10, seed=0, device="cpu").save(path)
    return str(path)


def test_out_follows_evaluate_s_overwrite_policy_before_playing(tmp_path, capsys, monkeypatch) -> None:
    """--out: an existing file is kept without --overwrite, a folder is refused, both before any step is played."""
    from sb3_dqn_paper import atomic_io
    from sb3_dqn_paper.tools import overestimation

    model = _cartpole_model_file(tmp_path)
    args = [model, "--env", "CartPole-v1", "--steps", "60", "--epsilon", "1"]
    played = []
    real_play = overestimation.play_and_compare
    monkeypatch.setattr(overestimation, "play_and_compare", lambda *a, **k: played.append(1) or real_play(*a, **k))
    out = tmp_path / "earlier.json"
    out.write_text('{"earlier": "result"}\n')
    assert main([*args, "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == '{"earlier": "result"}\n' and played == []
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err and played == []
    # a missing parent folder is created
    nested = tmp_path / "new" / "folder" / "o.json"
    assert main([*args, "--out", str(nested)]) == 0
    assert json.loads(nested.read_text())["kind"] == KIND and played == [1]

    # a full disk while writing: a named error, the earlier file untouched, no temporary file left
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic_io.os, "fsync", full_disk)
    assert main([*args, "--out", str(out), "--overwrite"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text() == '{"earlier": "result"}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["earlier.json", "m.zip", "new"]
    monkeypatch.undo()
    assert main([*args, "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["models"][0]["model"] == model


def test_a_model_of_another_game_is_refused(tmp_path, capsys) -> None:
    """Pong (6 actions) and Breakout (4 actions) give the same 4x84x84 observations: the action space tells them apart."""
    from sb3_dqn_paper import make_paper_atari_env

    pong = tmp_path / "pong.zip"
    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0)
    PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=10, seed=0, device="cpu").save(pong)
    env.close()
    assert main([str(pong), "--env", "BreakoutNoFrameskip-v4", "--steps", "20"]) == 2
    error = capsys.readouterr().err
    assert "acts in Discrete(6) but BreakoutNoFrameskip-v4 has the action space Discrete(4)" in error
    model = PaperDQN.load(pong, device="cpu")
    with pytest.raises(InvalidArgumentError, match="trained on another game"):
        play_and_compare(model, "BreakoutNoFrameskip-v4", n_steps=20)
