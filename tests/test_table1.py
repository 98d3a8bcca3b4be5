"""Table 1 data and the lookup from Gymnasium env ids to the paper's games."""

import gymnasium as gym
import pytest

from sb3_dqn_paper.atari import register_atari_envs
from sb3_dqn_paper.tools.table1 import METHODS, REFERENCE_SCORES, TABLE1, game_name, paper_game, references_for


@pytest.mark.parametrize(
    "env_id, key",
    [
        ("BreakoutNoFrameskip-v4", "Breakout"),
        ("ALE/Breakout-v5", "Breakout"),
        ("Breakout-v4", "Breakout"),
        ("BreakoutDeterministic-v4", "Breakout"),
        ("Breakout-ramNoFrameskip-v4", "Breakout"),
        ("ALE-Breakout-v5", "Breakout"),  # rl-zoo3's folder spelling of a namespaced id
        ("ALE/SpaceInvaders-v5", "SpaceInvaders"),
        ("QbertNoFrameskip-v4", "Qbert"),
        ("BeamRiderNoFrameskip-v4", "BeamRider"),
    ],
)
def test_lookup_of_env_ids(env_id: str, key: str) -> None:
    game = paper_game(env_id)
    assert game is not None
    assert game.key == key


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MsPacmanNoFrameskip-v4", "ALE/Asterix-v5", "Pendulum-v1"])
def test_games_outside_table1_have_no_row(env_id: str) -> None:
    assert paper_game(env_id) is None


def test_game_name_strips_namespace_version_and_variants() -> None:
    assert game_name("ALE/Pong-v5") == "Pong"
    assert game_name("PongNoFrameskip-v4") == "Pong"
    assert game_name("Pong-ramDeterministic-v4") == "Pong"


def test_every_game_maps_back_from_its_env_id_and_is_the_paper_setting() -> None:
    register_atari_envs()
    assert len(TABLE1) == 7
    for key, game in TABLE1.items():
        assert paper_game(game.env_id) is game
        assert game.key == key
        spec = gym.spec(game.env_id)
        # The 2013 setting: no frame skip inside the env, no sticky actions
        assert spec.kwargs["frameskip"] == 1
        assert spec.kwargs["repeat_action_probability"] == 0.0


def test_rows_are_consistent() -> None:
    for game in TABLE1.values():
        scores = game.scores()
        assert list(scores) == list(METHODS)
        # "DQN Best" is DQN's best single game, so it cannot be below DQN's average
        assert game.dqn_best >= game.dqn
        assert game.dqn > game.random


def test_reference_systems_only_name_table1_games() -> None:
    budgets = [system.agent_steps for system in REFERENCE_SCORES]
    assert budgets == sorted(budgets)
    for system in REFERENCE_SCORES:
        assert set(system.scores) <= set(TABLE1)
    pong = references_for(TABLE1["Pong"])
    assert len(pong) == len(REFERENCE_SCORES)
    assert all(score == system.scores["Pong"] for system, score in pong)
    # CleanRL reports three of the seven games only
    assert len(references_for(TABLE1["Enduro"])) == len(REFERENCE_SCORES) - 1
