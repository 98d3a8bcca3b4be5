"""
``campaign report``: Table 1's layout from a campaign's evaluation files, the same-budget references, and the
human-normalised aggregates checked against rliable's own functions.
"""

import hashlib
import json
import pathlib

import numpy as np
import pytest

from sb3_dqn_paper.tools.campaign.config import make_config, run_name, write_config
from sb3_dqn_paper.tools.campaign.table import (
    DOPAMINE_COLUMN,
    REPORT_DATA_FILE,
    REPORT_FILE,
    aggregate_iqm,
    aggregate_median,
    bootstrap_over_games_episodes,
    bootstrap_over_runs,
    human_normalised,
    reference_cells,
    write_campaign_report,
)
from sb3_dqn_paper.tools.evaluate import Episode, EvaluationResult
from sb3_dqn_paper.tools.table1 import TABLE1

#: Evaluation games per (game, agent steps) of the campaign below.
GAMES = {
    ("PongNoFrameskip-v4", 250_000): [-21, -20, -19],
    ("PongNoFrameskip-v4", 1_000_000): [-10, -6, -2, 2],
    ("BreakoutNoFrameskip-v4", 250_000): [1, 2, 3],
}


#: Held-out measures of some evaluations (the others were written before the campaign measured them).
HELD_OUT = {
    ("PongNoFrameskip-v4", 1_000_000): dict(average_max_q=1773878.7443, inactive_units=151, units=256),
    ("BreakoutNoFrameskip-v4", 250_000): dict(average_max_q=0.25, inactive_units=None, units=None),
}


def write_evaluation(out: pathlib.Path, env_id: str, steps: int, scores: list[float]) -> None:
    result = EvaluationResult(env_id, None, steps, 10_000, 0.05, 0, 30, 4)
    result.episodes = [Episode(score, float(np.sign(score)), 100) for score in scores]
    data = result.to_dict()
    if (env_id, steps) in HELD_OUT:
        data["held_out"] = dict(states=1000, seed=0, **HELD_OUT[env_id, steps])
    path = out / "evals" / run_name(env_id, 0) / f"{steps}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def campaign(tmp_path: pathlib.Path) -> pathlib.Path:
    out = tmp_path / "campaign"
    write_config(out, make_config(["PongNoFrameskip-v4", "BreakoutNoFrameskip-v4"], [0], 1_000_000, [250_000]))
    for (env_id, steps), scores in GAMES.items():
        write_evaluation(out, env_id, steps, scores)
    return out


def test_table1_layout_budgets_and_references(campaign: pathlib.Path, tmp_path: pathlib.Path) -> None:
    from sb3_dqn_paper.tools.campaign.config import read_config

    written = write_campaign_report(campaign, read_config(campaign), tmp_path / "report")
    assert str(tmp_path / "report" / REPORT_FILE) in written
    text = (tmp_path / "report" / REPORT_FILE).read_text()
    lines = text.splitlines()
    # the paper's column order (Breakout before Pong) and rows, this project's row at each budget
    assert lines[lines.index("| --- | ---: | ---: |") - 1] == "|  | Breakout | Pong |"
    assert "| Random | 1.2 | -20.4 |" in lines
    assert "| DQN (the paper, 10M frames) | 168 | 20 |" in lines
    assert "| **sb3-dqn-paper, 250,000 agent steps** | 2 | -20 |" in lines
    assert "| **sb3-dqn-paper, 1,000,000 agent steps** | - | -4 |" in lines
    assert "| sb3-dqn-paper, latest evaluation (agent steps) | 2 (250k) | -4 (1,000k) |" in lines
    assert "| **sb3-dqn-paper Best, 1,000,000 agent steps** | - | 2 |" in lines
    assert "| DQN Best (the paper) | 225 | 21 |" in lines
    assert lines.index("| Human | 31 | -3 |") < lines.index("| HNeat Best | 52 | 19 |")
    # every evaluation, with the held-out measures where they were taken (a diverged Q as a whole number)
    assert "| Pong | 1,000,000 | -4 (-10 to 2) | -0.5 (-1 to 1) | 4 | 1,773,879 | 151 of 256 |" in lines
    assert "| Pong | 250,000 | -20 (-21 to -19) | -1 (-1 to -1) | 3 | - | - |" in lines
    assert "| Breakout | 250,000 | 2 (1-3) | 1 (1-1) | 3 | 0.25 | - |" in lines
    # same-budget references at 1M: Dopamine's iteration 3 (750k-1M), SB3 rl-zoo DQN, CleanRL's range
    assert reference_cells(TABLE1["Breakout"], 1_000_000) == {
        DOPAMINE_COLUMN: "6.7 (5.9-7.5)",
        "SB3 rl-zoo DQN, training return": "39",
        "CleanRL dqn_atari.py, training return": "25-30",
    }
    # Dopamine's mean of 5 seeds with its lowest and highest seed; iteration 9 (2.25M-2.5M) for 2.5M
    assert reference_cells(TABLE1["Pong"], 2_500_000)[DOPAMINE_COLUMN] == "-4.9 (-19.1 to 6.9)"
    assert DOPAMINE_COLUMN not in reference_cells(TABLE1["Pong"], 1_600_000)
    assert reference_cells(TABLE1["Breakout"], 2_500_000)["deep_q_rl run_nips.py (2013 settings), evaluation"] == "74"
    data = json.loads((tmp_path / "report" / REPORT_DATA_FILE).read_text())
    assert data["scores"]["Pong"]["1000000"]["mean"] == -4.0
    assert data["scores"]["Pong"]["1000000"]["average_max_q"] == 1773878.7443
    assert data["scores"]["Pong"]["1000000"]["inactive_units"] == "151 of 256"
    assert data["scores"]["Pong"]["250000"]["average_max_q"] is None
    at_250k = data["normalised"]["250000"]
    assert at_250k["per_game"]["Breakout"] == pytest.approx((2 - 1.7) / (30.5 - 1.7))
    assert at_250k["per_game_paper"]["Pong"] == pytest.approx((-20 + 20.4) / (-3 + 20.4))
    assert at_250k["median"] == pytest.approx(np.median([(2 - 1.7) / 28.8, (-20 + 20.7) / 35.3]))
    assert "evaluation games alone" in at_250k["interval"]
    # the learning curves of both games, from the evaluation files
    assert (tmp_path / "report" / "curves" / "PongNoFrameskip-v4.png").is_file()


def test_aggregates_are_rliables() -> None:
    from rliable import metrics

    rng = np.random.default_rng(3)
    for shape in ((1, 7), (3, 7), (5, 4)):
        scores = rng.normal(0.5, 1.0, size=shape)
        assert aggregate_iqm(scores) == pytest.approx(metrics.aggregate_iqm(scores))
        assert aggregate_median(scores) == pytest.approx(metrics.aggregate_median(scores))
    scores = rng.normal(0.5, 0.2, size=(5, 7))
    intervals = bootstrap_over_runs(scores, reps=500)
    for name, point in (("median", aggregate_median(scores)), ("iqm", aggregate_iqm(scores))):
        low, high = intervals[name]
        assert low < point < high


def test_one_seed_interval_resamples_the_evaluation_games() -> None:
    keys = ["Pong", "Breakout", "SpaceInvaders"]
    constant = [np.full(5, -20.0), np.full(4, 10.0), np.full(6, 500.0)]
    point = aggregate_median(np.array([[human_normalised(s.mean(), k) for s, k in zip(constant, keys, strict=True)]]))
    intervals = bootstrap_over_games_episodes(constant, keys, reps=200)
    assert intervals["median"] == pytest.approx((point, point))  # games that never vary: no interval
    varying = [np.array([-21.0, -15, -10]), np.array([2.0, 10, 30]), np.array([200.0, 500, 900])]
    row = np.array([[human_normalised(s.mean(), k) for s, k in zip(varying, keys, strict=True)]])
    low, high = bootstrap_over_games_episodes(varying, keys, reps=500)["iqm"]
    assert low < aggregate_iqm(row) < high and high - low > 0.01


def _campaign_with_model(folder: pathlib.Path, steps: int, seed: int, episodes: int = 0) -> pathlib.Path:
    """
    A CartPole campaign whose one run kept the evaluated model at ``steps`` (a PaperDQN of seed ``seed``; ``episodes``
    changes the file, not the weights).
    """
    from collections import OrderedDict

    import yaml

    from sb3_dqn_paper import PaperDQN

    write_config(folder, make_config(["CartPole-v1"], [0], 2 * steps, [steps]))
    segment = folder / "runs" / run_name("CartPole-v1", 0) / "paper_dqn" / "CartPole-v1_1"
    (segment / "CartPole-v1").mkdir(parents=True)
    config = OrderedDict([("buffer_size", 100), ("policy", "MlpPolicy")])
    (segment / "CartPole-v1" / "config.yml").write_text(yaml.dump(config))
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, seed=seed, device="cpu")
    model.num_timesteps, model._episode_num = steps, episodes
    model.save(segment / f"model_{steps}_steps.zip")
    write_evaluation(folder, "CartPole-v1", steps, [10.0, 12.0])
    return folder


def test_agents_follow_the_latest_campaign_among_equals(tmp_path: pathlib.Path) -> None:
    """
    An agent is replaced by one with more agent steps or by another campaign's at as many, never by fewer steps; the
    same model file, or another with the same weights (a run that repeated it), is not exported again (no new file
    for git at every landing).
    """
    from sb3_dqn_paper import PaperDQN
    from sb3_dqn_paper.tools.campaign.config import read_config
    from sb3_dqn_paper.tools.campaign.table import export_latest_agents

    agents = tmp_path / "agents"
    agent = agents / "paper_dqn" / "CartPole-v1_1"
    first, second = (_campaign_with_model(tmp_path / name, 1000, seed) for name, seed in (("first", 1), ("second", 2)))
    shorter = _campaign_with_model(tmp_path / "shorter", 500, 3)

    def weights(path: pathlib.Path) -> list[float]:
        return [float(x) for x in PaperDQN.load(path, device="cpu").q_net.state_dict()["q_net.0.weight"].flatten()[:8]]

    assert export_latest_agents(first, read_config(first), agents) == [str(agent)]
    assert weights(agent / "CartPole-v1.zip") == weights(next(first.rglob("model_1000_steps.zip")))
    info = json.loads((agent / "CartPole-v1" / "agent.json").read_text())
    assert info["num_timesteps"] == 1000
    assert info["source_sha256"] == hashlib.sha256(next(first.rglob("model_1000_steps.zip")).read_bytes()).hexdigest()
    shipped = (agent / "CartPole-v1.zip").read_bytes()
    # the same file again: left as it is, byte for byte
    assert export_latest_agents(first, read_config(first), agents) == []
    assert (agent / "CartPole-v1.zip").read_bytes() == shipped
    # fewer agent steps: kept
    assert export_latest_agents(shorter, read_config(shorter), agents) == []
    # another campaign at as many agent steps: replaced
    assert export_latest_agents(second, read_config(second), agents) == [str(agent)]
    assert weights(agent / "CartPole-v1.zip") == weights(next(second.rglob("model_1000_steps.zip")))
    assert weights(agent / "CartPole-v1.zip") != weights(next(first.rglob("model_1000_steps.zip")))
    # a run that repeated the second one (another file, the same weights): kept, byte for byte
    repeat = _campaign_with_model(tmp_path / "repeat", 1000, 2, episodes=7)
    files = [next(campaign.rglob("model_1000_steps.zip")).read_bytes() for campaign in (second, repeat)]
    assert files[0] != files[1]
    shipped = (agent / "CartPole-v1.zip").read_bytes()
    assert export_latest_agents(repeat, read_config(repeat), agents) == []
    assert (agent / "CartPole-v1.zip").read_bytes() == shipped
