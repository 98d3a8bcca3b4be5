"""A fixed action under epsilon-greedy exploration: can a game's rewards be reached at a given epsilon."""

import json

import gymnasium as gym
import numpy as np
import pytest

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.common import make_evaluation_env
from sb3_dqn_paper.tools.fixed_action import action_index, main, play_fixed_action


def reference_cartpole_games(action: int, epsilon: float, n_steps: int, seed: int) -> list[int]:
    """Lengths of the CartPole games completed in ``n_steps``, played by hand with EpsilonGreedy's draws."""
    env = gym.make("CartPole-v1")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    lengths, length = [], 0
    for _ in range(n_steps):
        explore = rng.random(1) < epsilon  # EpsilonGreedy: first U(0, 1), then the random action if below epsilon
        chosen = int(rng.integers(2, size=1)[0]) if explore[0] else action
        _, _, terminated, truncated, _ = env.step(chosen)
        length += 1
        if terminated or truncated:
            lengths.append(length)
            length = 0
            env.reset()
    env.close()
    return lengths


@pytest.mark.parametrize("epsilon", [0.0, 0.4, 1.0])
def test_games_are_those_of_the_policy_played_by_hand(epsilon: float) -> None:
    env = make_evaluation_env("CartPole-v1", seed=3)
    try:
        games = play_fixed_action(env, action=0, epsilon=epsilon, n_steps=300, seed=3)
        # every epsilon reseeds the env: the same games again after another epsilon was played
        play_fixed_action(env, action=1, epsilon=0.5, n_steps=50, seed=3)
        again = play_fixed_action(env, action=0, epsilon=epsilon, n_steps=300, seed=3)
    finally:
        env.close()
    lengths = reference_cartpole_games(0, epsilon, 300, 3)
    assert len(lengths) >= 2
    assert [game.length for game in games] == lengths
    # CartPole pays 1 per step: score, clipped score and non-zero rewards all equal the length
    assert [(game.score, game.clipped_score, game.rewards) for game in games] == [(n, n, n) for n in lengths]
    assert again == games


def test_actions_by_name_or_index() -> None:
    env = make_evaluation_env("PongNoFrameskip-v4", seed=0)
    try:
        assert action_index(env, "FIRE") == (1, "FIRE")
        assert action_index(env, "fire") == (1, "FIRE")
        assert action_index(env, "0") == (0, "NOOP")
        with pytest.raises(InvalidArgumentError, match="unknown action 'JUMP': give one of NOOP, FIRE, RIGHT"):
            action_index(env, "JUMP")
        with pytest.raises(InvalidArgumentError, match="action 6 is out of range: the env has 6 actions"):
            action_index(env, "6")
    finally:
        env.close()
    env = make_evaluation_env("CartPole-v1", seed=0)
    try:
        assert action_index(env, "1") == (1, None)
        with pytest.raises(InvalidArgumentError, match="give an index from 0 to 1"):
            action_index(env, "LEFT")
    finally:
        env.close()


def test_command_writes_the_rows_and_refuses_bad_input(tmp_path, capsys) -> None:
    out = tmp_path / "probe.json"
    assert main(["--env", "CartPole-v1", "--action", "0", "--epsilons", "1,0", "--steps", "120", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["kind"] == "sb3_dqn_paper.fixed_action" and result["action"] == 0
    assert [row["epsilon"] for row in result["rows"]] == [1.0, 0.0]
    assert [row["schedule_step"] for row in result["rows"]] == [0, None]
    lengths = reference_cartpole_games(0, 0.0, 120, 0)
    assert [game["length"] for game in result["rows"][1]["games"]] == lengths
    printed = capsys.readouterr().out
    assert "always action 0 (action 0 of 2)" in printed and "never (ends at 0.1)" in printed
    # an existing --out is kept, and refused before anything is played
    before = out.read_text()
    assert main(["--env", "CartPole-v1", "--action", "0", "--steps", "120", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == before
    assert main(["--env", "CartPole-v1", "--action", "LEFT", "--steps", "120"]) == 2
    assert "unknown action 'LEFT'" in capsys.readouterr().err
    assert main(["--env", "CartPole-v1", "--action", "0", "--steps", "0"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--env", "CartPole-v1", "--action", "0", "--epsilons", "0.5,1.5"])
    assert exit_info.value.code == 2
    assert "'1.5' is not an epsilon in [0, 1]" in capsys.readouterr().err


def test_schedule_column_follows_exploration_steps(tmp_path, capsys) -> None:
    out = tmp_path / "probe.json"
    argv = ["--env", "CartPole-v1", "--action", "1", "--epsilons", "0.55,0.1", "--steps", "50", "--out", str(out)]
    assert main([*argv, "--exploration-steps", "250000"]) == 0
    result = json.loads(out.read_text())
    assert result["schedule"] == {"initial": 1.0, "final": 0.1, "steps": 250_000}
    assert [row["schedule_step"] for row in result["rows"]] == [125_000, 250_000]
    assert "decay over 250,000 reaches it at" in capsys.readouterr().out
    assert main([*argv, "--exploration-steps", "0", "--overwrite"]) == 2
    assert "--exploration-steps must be a positive number of agent steps, got 0" in capsys.readouterr().err
    assert json.loads(out.read_text()) == result  # the refused run left the earlier file as it was
