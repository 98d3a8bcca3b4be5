"""
The paper's evaluation protocol: episode accounting, clipped vs unclipped score, epsilon, JSON, errors (the
command-line errors also for ``record``, which takes the same model, env and seed options).
"""

import json
import os

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.monitor import load_results

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.errors import InvalidModelFileError
from sb3_dqn_paper.tools.common import make_evaluation_env
from sb3_dqn_paper.tools.evaluate import RESULT_KIND, EpsilonGreedy, evaluate_paper_protocol, main
from sb3_dqn_paper.tools.record import main as record_main
from sb3_dqn_paper.tools.table1 import TABLE1

th.set_num_threads(1)

#: Agent steps that hold a few random-policy games of Space Invaders (frame skip 3)
SHORT_RUN = 2_500


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PaperDQN CnnPolicy trained for 100 agent steps on Space Invaders (6 actions, like Pong)."""
    env = make_paper_atari_env("SpaceInvadersNoFrameskip-v4", seed=0)
    model = PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=50, seed=0)
    model.learn(100)
    path = tmp_path_factory.mktemp("models") / "space_invaders.zip"
    model.save(path)
    env.close()
    return str(path)


@pytest.fixture(scope="module")
def model(model_path: str) -> PaperDQN:
    return PaperDQN.load(model_path, device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("life_loss", [True, False])
def test_only_completed_whole_games_count(model: PaperDQN, tmp_path, life_loss: bool) -> None:
    monitor_dir = str(tmp_path / "monitor")
    result = evaluate_paper_protocol(
        model, "SpaceInvadersNoFrameskip-v4", n_steps=SHORT_RUN, monitor_dir=monitor_dir, terminal_on_life_loss=life_loss
    )
    assert result.to_dict()["protocol"]["terminal_on_life_loss"] is life_loss
    # SB3's Monitor writes one row per finished game (all lives): the unfinished last game has none
    monitor = load_results(monitor_dir)
    assert result.n_episodes == len(monitor) >= 2
    np.testing.assert_allclose([episode.score for episode in result.episodes], monitor["r"], atol=1e-6)
    frame_skip, noop_max, fire_reset_steps = 3, 30, 2
    # with life-loss episodes, each of the 2 lives lost before game over costs a no-op and the FIRE reset steps
    life_loss_steps = 2 * (1 + fire_reset_steps) if life_loss else 0
    for episode, frames in zip(result.episodes, monitor["l"], strict=True):
        # Monitor counts emulator frames: k per agent step, plus the no-ops and FIRE steps of the reset
        upper = frame_skip * (episode.length + fire_reset_steps + life_loss_steps) + noop_max
        assert frame_skip * episode.length <= frames <= upper
    assert 0 < SHORT_RUN - result.steps_in_completed_episodes < SHORT_RUN
    assert result.steps_in_completed_episodes == sum(episode.length for episode in result.episodes)
    assert not any(episode.truncated for episode in result.episodes)


@pytest.mark.slow
def test_unclipped_score_differs_from_clipped_where_rewards_exceed_one(model: PaperDQN) -> None:
    result = evaluate_paper_protocol(model, "SpaceInvadersNoFrameskip-v4", n_steps=SHORT_RUN, epsilon=1.0, seed=3)
    assert result.n_episodes >= 1
    for episode in result.episodes:
        # Each alien is worth 5 to 30 points; clipping counts each rewarded step as 1
        assert episode.clipped_score > 0
        assert episode.score >= 5 * episode.clipped_score
    unclipped, clipped = result.summary(clipped=False), result.summary(clipped=True)
    assert unclipped is not None and clipped is not None
    assert unclipped["mean"] > clipped["mean"]


def test_clipped_equals_unclipped_in_pong(model: PaperDQN) -> None:
    # Pong's rewards are +-1, one point at a time: clipping changes nothing
    result = evaluate_paper_protocol(model, "PongNoFrameskip-v4", n_steps=1_200, epsilon=1.0, seed=0)
    assert result.n_episodes >= 1
    for episode in result.episodes:
        assert episode.score == episode.clipped_score
        assert -21 <= episode.score <= 21


def _observations(n: int) -> np.ndarray:
    env = make_evaluation_env("SpaceInvadersNoFrameskip-v4", seed=0)
    observations = [env.reset()]
    rng = np.random.default_rng(0)
    for _ in range(n - 1):
        observations.append(env.step(rng.integers(6, size=1))[0])
    env.close()
    return np.concatenate(observations)


def test_epsilon_zero_is_greedy_whatever_the_models_exploration_rate(model: PaperDQN) -> None:
    observations = _observations(40)
    model.exploration_rate = 1.0  # the tool must not use the model's own epsilon
    actor = EpsilonGreedy(model, 6, epsilon=0.0, seed=0)
    actions = np.concatenate([actor(observation[None]) for observation in observations])
    greedy = model.q_net(th.as_tensor(observations).float()).argmax(dim=1).numpy()
    np.testing.assert_array_equal(actions, greedy)
    assert actor.n_random == 0


def test_epsilon_one_is_uniform(model: PaperDQN) -> None:
    observation = _observations(1)
    actor = EpsilonGreedy(model, 6, epsilon=1.0, seed=0)
    draws = 3_000
    actions = np.concatenate([actor(observation) for _ in range(draws)])
    counts = np.bincount(actions, minlength=6)
    # Binomial(3000, 1/6): mean 500, sd 20.4; 5 sd either side
    assert np.all(np.abs(counts - draws / 6) < 5 * np.sqrt(draws * (1 / 6) * (5 / 6)))
    assert actor.n_random == draws


@pytest.mark.slow
def test_epsilon_005_takes_about_5_percent_random_actions(model: PaperDQN) -> None:
    observation = _observations(1)
    (greedy,) = model.predict(observation, deterministic=True)[0]
    actor = EpsilonGreedy(model, 6, epsilon=0.05, seed=1)
    draws = 3_000
    actions = np.concatenate([actor(observation) for _ in range(draws)])
    # A random action differs from the greedy one with probability 5/6
    p_differs = 0.05 * 5 / 6
    differs = int(np.sum(actions != greedy))
    assert abs(differs - draws * p_differs) < 5 * np.sqrt(draws * p_differs * (1 - p_differs))
    assert abs(actor.n_random - draws * 0.05) < 5 * np.sqrt(draws * 0.05 * 0.95)
    assert differs <= actor.n_random


@pytest.mark.slow
def test_same_seed_same_numbers(model_path: str, model: PaperDQN) -> None:
    n_steps = 1_000
    first = evaluate_paper_protocol(model_path, "SpaceInvadersNoFrameskip-v4", n_steps=n_steps, seed=7)
    second = evaluate_paper_protocol(model, "SpaceInvadersNoFrameskip-v4", n_steps=n_steps, seed=7)
    other = evaluate_paper_protocol(model, "SpaceInvadersNoFrameskip-v4", n_steps=n_steps, seed=8)
    assert first.n_episodes >= 1 and other.n_episodes >= 1
    assert first.episodes == second.episodes
    assert first.n_random_actions == second.n_random_actions
    assert first.episodes != other.episodes
    # Seeded epsilon: about 5% of the steps
    assert abs(first.n_random_actions - n_steps * 0.05) < 5 * np.sqrt(n_steps * 0.05 * 0.95)


@pytest.mark.slow
def test_json_output_and_file(model_path: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "space_invaders.json"
    argv = [model_path, "--env", "SpaceInvadersNoFrameskip-v4", "--steps", "1500", "--seed", "2", "--json", "--out", str(out)]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out) as file:
        saved = json.load(file)
    assert printed == saved
    assert saved["kind"] == RESULT_KIND
    assert saved["env_id"] == "SpaceInvadersNoFrameskip-v4"
    assert saved["game"] == "SpaceInvaders"
    assert saved["model_num_timesteps"] == 100
    assert saved["protocol"] == {
        "n_steps": 1500,
        "epsilon": 0.05,
        "seed": 2,
        "noop_max": 30,
        "frame_skip": 3,
        "terminal_on_life_loss": True,
        "clip_reward": False,
    }
    scores = [episode["score"] for episode in saved["episodes"]]
    clipped = [episode["clipped_score"] for episode in saved["episodes"]]
    assert saved["n_episodes"] == len(scores) >= 1
    assert saved["unclipped"]["max"] == max(scores)
    assert saved["unclipped"]["min"] == min(scores)
    assert saved["unclipped"]["mean"] == pytest.approx(np.mean(scores))
    assert saved["clipped"]["mean"] == pytest.approx(np.mean(clipped))
    assert saved["steps_in_completed_episodes"] == sum(episode["length"] for episode in saved["episodes"])
    assert saved["paper"] == TABLE1["SpaceInvaders"].scores()
    # An existing result file is not replaced without --overwrite
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    with open(out) as file:
        assert json.load(file) == saved


def test_text_output_puts_table1_beside_the_scores(model_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([model_path, "--env", "PongNoFrameskip-v4", "--steps", "1200", "--epsilon", "1"]) == 0
    text = capsys.readouterr().out
    lines = {line.split("  ")[0]: line.split() for line in text.splitlines() if line.startswith(("ours", "paper"))}
    assert lines["paper DQN Best (one game)"][-1] == "21"
    assert lines["paper DQN average"][-1] == "20"
    assert lines["paper Random"][-1] == "-20.4"
    assert lines["paper Human"][-1] == "-3"
    assert "ours, unclipped score" in lines and "ours, clipped score" in lines


def test_non_atari_env_has_no_table1_row(tmp_path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, learning_starts=50, seed=0)
    result = evaluate_paper_protocol(model, "CartPole-v1", n_steps=300, seed=0)
    data = result.to_dict()
    assert data["paper"] is None and data["game"] is None
    assert data["protocol"]["frame_skip"] is None
    assert result.n_episodes >= 1
    # CartPole pays 1 per step: score, clipped score and length agree
    for episode in result.episodes:
        assert episode.score == episode.clipped_score == episode.length


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_steps=0), "positive integer"),
        (dict(n_steps=-5), "positive integer"),
        (dict(epsilon=-0.1), "epsilon must be in"),
        (dict(epsilon=1.5), "epsilon must be in"),
        (dict(noop_max=-1), "noop_max"),
        (dict(env_id="NoSuchGame-v0"), "Unknown environment id"),
        (dict(env_id="ALE/Breakout-v5"), "skips 4 frames"),
    ],
)
def test_bad_settings_are_refused_before_loading(kwargs: dict, message: str, tmp_path) -> None:
    # The model path does not exist: the settings must be refused first
    arguments = {"model": str(tmp_path / "missing.zip"), "env_id": "SpaceInvadersNoFrameskip-v4", **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate_paper_protocol(**arguments)


def test_missing_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidModelFileError, match="no such model file"):
        evaluate_paper_protocol(str(tmp_path / "missing.zip"), "PongNoFrameskip-v4")
    assert main([str(tmp_path / "missing.zip"), "--env", "PongNoFrameskip-v4"]) == 2
    assert "no such model file" in capsys.readouterr().err


def test_not_a_paper_dqn_file(tmp_path) -> None:
    sb3_dqn = tmp_path / "sb3_dqn.zip"
    DQN("MlpPolicy", "CartPole-v1", buffer_size=100).save(sb3_dqn)
    with pytest.raises(InvalidModelFileError, match="not saved by PaperDQN"):
        evaluate_paper_protocol(str(sb3_dqn), "CartPole-v1")
    text_file = tmp_path / "notes.zip"
    text_file.write_text("not a model")
    with pytest.raises(InvalidModelFileError, match="not a zip file"):
        evaluate_paper_protocol(str(text_file), "CartPole-v1")


def test_env_with_another_action_space(model_path: str) -> None:
    with pytest.raises(ValueError, match=r"Discrete\(6\).*Discrete\(4\)"):
        evaluate_paper_protocol(model_path, "BreakoutNoFrameskip-v4", n_steps=10)


def test_env_with_another_observation_space(tmp_path) -> None:
    # Same game and actions, other preprocessing: 2 stacked frames instead of the paper's 4
    env = make_paper_atari_env("PongNoFrameskip-v4", frame_stack=2)
    PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=50).save(tmp_path / "two_frames.zip")
    env.close()
    with pytest.raises(ValueError, match=r"observations of shape \(2, 84, 84\) but PongNoFrameskip-v4 gives \(4, 84, 84\)"):
        evaluate_paper_protocol(str(tmp_path / "two_frames.zip"), "PongNoFrameskip-v4", n_steps=10)
    assert os.path.isfile(tmp_path / "two_frames.zip")


@pytest.fixture(scope="module")
def cartpole_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "cartpole.zip"
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100).save(path)
    return str(path)


@pytest.mark.parametrize("tool", ["evaluate", "record"])
def test_negative_seed_is_a_usage_error(tool: str, cartpole_model: str, tmp_path, capsys: pytest.CaptureFixture) -> None:
    tool_main = main if tool == "evaluate" else record_main
    extra = ["--out", str(tmp_path / "x.gif")] if tool == "record" else []
    with pytest.raises(SystemExit) as exit_status:
        tool_main([cartpole_model, "--env", "CartPole-v1", "--seed", "-1", *extra])
    assert exit_status.value.code == 2
    assert "--seed: must be a whole number >= 0, got '-1'" in capsys.readouterr().err


@pytest.mark.parametrize("tool", ["evaluate", "record"])
def test_unknown_env_kwargs_are_named(tool: str, cartpole_model: str, tmp_path, capsys: pytest.CaptureFixture) -> None:
    tool_main = main if tool == "evaluate" else record_main
    extra = ["--out", str(tmp_path / "x.gif")] if tool == "record" else []
    assert tool_main([cartpole_model, "--env", "CartPole-v1", "--steps", "10", "--env-kwargs", "nonsense=1", *extra]) == 2
    err = capsys.readouterr().err
    assert "error: CartPole-v1 cannot be built with the env kwargs {'nonsense': 1}" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())
