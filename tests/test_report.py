"""The report: Monitor logs and evaluation files -> one PNG per game and a Markdown table against Table 1."""

import json
import os
import pathlib
import shutil
import struct
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from stable_baselines3.common.monitor import ResultsWriter

from sb3_dqn_paper.tools.common import write_json
from sb3_dqn_paper.tools.evaluate import RESULT_FORMAT_VERSION, RESULT_KIND, Episode, EvaluationResult
from sb3_dqn_paper.tools.plots import learning_curve, same_budget_references, smooth
from sb3_dqn_paper.tools.report import TABLE_FILE, collect_inputs, main
from sb3_dqn_paper.tools.run_folder import MonitorRun, env_id_from_folder, join_resumed_runs
from sb3_dqn_paper.tools.table1 import DOPAMINE_PER_ITERATION, DOPAMINE_SEED_RANGE, TABLE1


def write_monitor(path: str, env_id: str | None, games: list[tuple[float, int]]) -> None:
    """Write a Monitor CSV as SB3's Monitor does: one (score, emulator frames) row per game."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = ResultsWriter(path, header={"t_start": 1_700_000_000.0, "env_id": str(env_id)})
    for index, (score, frames) in enumerate(games):
        writer.write_row({"r": score, "l": frames, "t": float(index + 1)})
    writer.close()


def png_size(path: str) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    with open(path, "rb") as file:
        head = file.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def table_rows(markdown: str, section: str) -> list[dict[str, str]]:
    """The rows of the Markdown table under the heading that starts with ``section``, as dicts."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {section}"))
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
    header, rows = table[0], table[2:]
    return [dict(zip(header, row, strict=True)) for row in rows]


def evaluation_file(path: pathlib.Path, env_id: str = "BreakoutNoFrameskip-v4", **drop: bool) -> pathlib.Path:
    """Write an evaluation result file (as ``evaluate`` writes it) without the fields named in ``drop``."""
    data: dict[str, Any] = {
        "kind": RESULT_KIND,
        "format_version": RESULT_FORMAT_VERSION,
        "env_id": env_id,
        "model_num_timesteps": 200_000,
        "n_episodes": 3,
        "protocol": {"n_steps": 10_000, "seed": 0, "epsilon": 0.05},
        "unclipped": {"mean": 10.0, "min": 5.0, "max": 15.0},
        "clipped": {"mean": 8.0, "min": 4.0, "max": 12.0},
    }
    for name in drop:
        del data[name]
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def logs(tmp_path) -> dict:
    """rl-zoo3 layout for Breakout (2 seeds, one without env id in its header) and an SB3 monitor_dir for Pong."""
    rng = np.random.default_rng(0)
    breakout = {}
    for run, header_env_id in ((1, "BreakoutNoFrameskip-v4"), (2, None)):
        games = [(float(rng.integers(0, 3) + index // 10), 4 * int(rng.integers(150, 400))) for index in range(60)]
        write_monitor(
            str(tmp_path / "logs" / "paper_dqn" / f"BreakoutNoFrameskip-v4_{run}" / "0.monitor.csv"), header_env_id, games
        )
        breakout[run] = games
    # Two envs of one run: SB3's make_vec_env(monitor_dir=...) writes 0.monitor.csv and 1.monitor.csv
    pong = {rank: [(-21.0 + rank + index, 4 * 900) for index in range(5)] for rank in (0, 1)}
    for rank, games in pong.items():
        write_monitor(str(tmp_path / "logs" / "sb3" / "pong_monitor" / f"{rank}.monitor.csv"), "PongNoFrameskip-v4", games)
    evaluation = EvaluationResult(
        env_id="BreakoutNoFrameskip-v4",
        model_path="model.zip",
        model_num_timesteps=250_000,
        n_steps=10_000,
        epsilon=0.05,
        seed=3,
        noop_max=30,
        frame_skip=4,
        episodes=[Episode(12.0, 9.0, 900), Episode(20.5, 14.0, 1200), Episode(4.25, 3.0, 500)],
        n_random_actions=497,
    )
    write_json(evaluation.to_dict(), str(tmp_path / "logs" / "evals" / "breakout.json"))
    # Unrelated JSON files are ignored
    (tmp_path / "logs" / "evals" / "other.json").write_text('{"hello": 1}')
    return {"root": str(tmp_path / "logs"), "breakout": breakout, "pong": pong, "evaluation": evaluation}


def test_report_writes_a_png_per_game_and_the_tables(logs: dict, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "report")
    assert main([logs["root"], "--out", out, "--window", "5"]) == 0
    printed = capsys.readouterr().out
    for env_id in ("BreakoutNoFrameskip-v4", "PongNoFrameskip-v4"):
        path = os.path.join(out, f"{env_id}.png")
        width, height = png_size(path)
        assert 800 <= width <= 2000 and 400 <= height <= 1000
        assert os.path.getsize(path) > 20_000
    assert sorted(os.listdir(out)) == ["BreakoutNoFrameskip-v4.png", "PongNoFrameskip-v4.png", TABLE_FILE]
    with open(os.path.join(out, TABLE_FILE)) as file:
        markdown = file.read()
    assert markdown in printed

    (row,) = table_rows(markdown, "Evaluation")
    evaluation, paper = logs["evaluation"], TABLE1["Breakout"]
    assert row["Game"] == "Breakout"
    assert row["Budget (agent steps)"] == f"{evaluation.model_num_timesteps:,}" == "250,000"
    assert row["Eval steps"] == "10,000"
    assert row["Seed"] == "3"
    assert row["Games"] == "3"
    assert float(row["Average"]) == pytest.approx(np.mean([12.0, 20.5, 4.25]), abs=0.005)
    assert float(row["Max"]) == 20.5
    assert float(row["Min"]) == 4.25
    assert float(row["Clipped average"]) == pytest.approx(np.mean([9.0, 14.0, 3.0]), abs=0.005)
    for column, value in (("Random", paper.random), ("DQN", paper.dqn), ("DQN Best", paper.dqn_best), ("Human", paper.human)):
        assert float(row[column]) == value

    rows = {row["Env id"]: row for row in table_rows(markdown, "Training")}
    breakout = rows["BreakoutNoFrameskip-v4"]
    assert breakout["Runs"] == "2"
    assert breakout["Games"] == "120"
    # Agent steps = Monitor frames / 4 (Breakout's frame skip)
    budgets = sorted(sum(frames for _, frames in games) // 4 for games in logs["breakout"].values())
    assert breakout["Budget (Monitor frames / frame skip)"] == f"{budgets[0]:,}-{budgets[1]:,}"
    finals = [np.mean([score for score, _ in games[-5:]]) for games in logs["breakout"].values()]
    assert float(breakout["Average of last games"]) == pytest.approx(np.mean(finals), abs=0.005)
    assert float(breakout["Best game"]) == max(score for games in logs["breakout"].values() for score, _ in games)
    pong = rows["PongNoFrameskip-v4"]
    # Both Monitor files of one folder are one run of 10 games
    assert pong["Runs"] == "1"
    assert pong["Games"] == "10"
    assert pong["Budget (Monitor frames / frame skip)"] == f"{10 * 900:,}"
    assert float(pong["DQN"]) == TABLE1["Pong"].dqn


def test_agent_steps_use_the_games_frame_skip(tmp_path) -> None:
    write_monitor(str(tmp_path / "si" / "0.monitor.csv"), "SpaceInvadersNoFrameskip-v4", [(50.0, 300), (80.0, 600)])
    write_monitor(str(tmp_path / "cartpole" / "0.monitor.csv"), "CartPole-v1", [(20.0, 20), (35.0, 35)])
    runs, evaluations = collect_inputs([str(tmp_path)])
    assert evaluations == []
    by_env = {run.env_id: run for run in runs}
    np.testing.assert_array_equal(by_env["SpaceInvadersNoFrameskip-v4"].agent_steps, [100, 300])  # k = 3
    np.testing.assert_array_equal(by_env["CartPole-v1"].agent_steps, [20, 55])  # no frame skip
    (override,) = collect_inputs([str(tmp_path / "si")], frame_skip=1)[0]
    np.testing.assert_array_equal(override.agent_steps, [300, 900])


def test_smooth_is_a_trailing_mean() -> None:
    values = np.array([3.0, -1.0, 4.0, 1.0, 5.0, 9.0, 2.0])
    for window in (1, 3, 10):
        expected = pd.Series(values).rolling(window, min_periods=1).mean().to_numpy()
        np.testing.assert_allclose(smooth(values, window), expected)


def test_learning_curve_mean_and_spread_over_runs() -> None:
    first = MonitorRun("PongNoFrameskip-v4", "a", np.array([0.0, 100.0, 200.0]), np.array([0.0, 10.0, 20.0]))
    second = MonitorRun("PongNoFrameskip-v4", "b", np.array([50.0, 150.0, 300.0]), np.array([4.0, 4.0, 4.0]))
    steps, mean, low, high = learning_curve([first, second], window=1)
    assert steps[0] == 50.0 and steps[-1] == 200.0
    np.testing.assert_allclose(mean, (steps / 10 + 4) / 2)
    np.testing.assert_allclose(low, np.minimum(steps / 10, 4))
    np.testing.assert_allclose(high, np.maximum(steps / 10, 4))
    # Runs that share no agent steps have no common curve
    late = MonitorRun("PongNoFrameskip-v4", "c", np.array([500.0, 600.0]), np.array([1.0, 2.0]))
    assert learning_curve([first, late], window=1) is None


def test_a_zoomed_panel_when_the_scores_are_far_below_the_paper(tmp_path) -> None:
    write_monitor(str(tmp_path / "logs" / "PongNoFrameskip-v4_1" / "0.monitor.csv"), None, [(-21.0, 3000), (-19.0, 3500)])
    write_monitor(str(tmp_path / "logs" / "BreakoutNoFrameskip-v4_1" / "0.monitor.csv"), None, [(150.0, 9000), (190.0, 9000)])
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    pong_width, _ = png_size(str(tmp_path / "out" / "PongNoFrameskip-v4.png"))
    breakout_width, _ = png_size(str(tmp_path / "out" / "BreakoutNoFrameskip-v4.png"))
    # Pong near -20 against the paper's 20: two panels. Breakout near 168: one
    assert pong_width > breakout_width


def test_the_run_sets_the_x_range_of_both_panels(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 10k-step Breakout run is not squeezed to the left by Dopamine's 250k-step first iteration."""
    from matplotlib import pyplot as plt

    from sb3_dqn_paper.tools.plots import plot_env

    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda figure=None: figures.append(figure) or close(figure))
    run = MonitorRun("BreakoutNoFrameskip-v4", "logs", np.linspace(400.0, 10_000.0, 25), np.linspace(0.0, 2.0, 25))
    plot_env(run.env_id, [run], [], str(tmp_path / "breakout.png"))
    (figure,) = figures
    panels = [axes for axes in figure.axes if axes.get_xlabel() == "agent steps"]
    assert len(panels) == 2, "scores near 1 against the paper's 168: a zoomed second panel"
    for axes in panels:
        assert axes.get_xlim() == pytest.approx((0.0, 10_500.0))


def test_env_id_from_rl_zoo_folder_names() -> None:
    assert env_id_from_folder("logs/paper_dqn/PongNoFrameskip-v4_12") == "PongNoFrameskip-v4"
    assert env_id_from_folder("logs/paper_dqn/ALE-Pong-v5_1_0d3e6c1a-8f0b-4d1e-9a51-2c8f1f0b7e3d/") == "ALE-Pong-v5"
    assert env_id_from_folder("logs/monitor") is None


def test_errors(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "Found no *.monitor.csv" in capsys.readouterr().err
    damaged = tmp_path / "damaged" / "0.monitor.csv"
    damaged.parent.mkdir()
    damaged.write_text("r,l,t\n1,2,3\n")
    assert main([str(tmp_path / "damaged")]) == 2
    assert f"{damaged} is not an SB3 Monitor file" in capsys.readouterr().err
    assert main([str(tmp_path / "empty"), "--window", "0"]) == 2
    assert "--window must be at least 1" in capsys.readouterr().err


def test_report_on_an_evaluation_file_with_missing_fields(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    path = evaluation_file(tmp_path / "broken.json", unclipped=True, protocol=True)
    assert main([str(path), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "broken.json is an evaluation file with missing or damaged fields: no 'protocol'; no 'unclipped'" in err
    assert not (tmp_path / "report").exists()


def test_report_on_a_truncated_evaluation_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    """Named alone or found in a folder beside a good one, a truncated result file is an error, not skipped."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = evaluation_file(inputs / "breakout.json")
    truncated = evaluation_file(inputs / "pong.json", env_id="PongNoFrameskip-v4")
    truncated.write_text(truncated.read_text()[:150])
    (inputs / "other.json").write_text("{ not json, and no evaluation either")  # some other file: still skipped
    for given in ([str(truncated)], [str(inputs)], [str(good), str(truncated)]):
        assert main([*given, "--out", str(tmp_path / "report")]) == 2
        err = capsys.readouterr().err
        assert "pong.json is a damaged or truncated evaluation file (150 bytes)" in err and "Found no" not in err
    assert not (tmp_path / "report").exists()
    # a named JSON file that is not an evaluation result
    (inputs / "pong.json").unlink()
    assert main([str(inputs / "other.json"), "--out", str(tmp_path / "report")]) == 2
    assert "other.json is a damaged or truncated evaluation file" in capsys.readouterr().err
    assert main([str(inputs), "--out", str(tmp_path / "report")]) == 0


def write_zoo_args(run_folder: str, env_id: str, trained_agent: str) -> None:
    """Write ``<run>/<EnvId>/args.yml`` as rl-zoo3 does (an OrderedDict dumped by PyYAML), with ``-i``."""
    os.makedirs(os.path.join(run_folder, env_id), exist_ok=True)
    with open(os.path.join(run_folder, env_id, "args.yml"), "w") as file:
        yaml.dump(OrderedDict([("algo", "paper_dqn"), ("env", env_id), ("trained_agent", trained_agent)]), file)


def test_resumed_zoo_runs_are_joined_into_one_run(tmp_path) -> None:
    env_id = "BreakoutNoFrameskip-v4"
    root = tmp_path / "logs" / "paper_dqn"
    first, second, third = (str(root / f"{env_id}_{run}") for run in (1, 2, 3))
    # Run 1: games ending at agent steps 100, 250, 400 (frames / 4); its checkpoint at 300, written by --save-freq
    write_monitor(os.path.join(first, "0.monitor.csv"), env_id, [(1.0, 400), (2.0, 600), (3.0, 600)])
    write_zoo_args(first, env_id, "")
    # Run 2 resumed rl_model_300_steps.zip (since deleted: the step comes from the name); its games restart at 0
    write_monitor(os.path.join(second, "0.monitor.csv"), env_id, [(4.0, 200), (5.0, 400)])
    write_zoo_args(second, env_id, os.path.join(first, "rl_model_300_steps.zip"))
    # Run 3 resumed run 2's checkpoint at 420 agent steps
    write_monitor(os.path.join(third, "0.monitor.csv"), env_id, [(6.0, 40), (7.0, 80)])
    write_zoo_args(third, env_id, os.path.join(second, "rl_model_420_steps.zip"))
    # A separate run of another seed stays a run of its own
    other = str(root / f"{env_id}_4")
    write_monitor(os.path.join(other, "0.monitor.csv"), env_id, [(9.0, 400)])
    write_zoo_args(other, env_id, "")

    runs, _ = collect_inputs([str(tmp_path / "logs")])
    by_folder = {os.path.basename(run.folder): run for run in runs}
    assert sorted(by_folder) == [f"{env_id}_3", f"{env_id}_4"]
    joined = by_folder[f"{env_id}_3"]
    # run 1 up to 300 (the game at 400 was not continued), run 2 + 300 up to 420, run 3 + 420
    np.testing.assert_array_equal(joined.agent_steps, [100, 250, 350, 430, 450])
    np.testing.assert_array_equal(joined.scores, [1.0, 2.0, 4.0, 6.0, 7.0])
    assert [os.path.basename(folder) for folder in joined.segments] == [f"{env_id}_{run}" for run in (1, 2, 3)]
    np.testing.assert_array_equal(by_folder[f"{env_id}_4"].agent_steps, [100])
    # The same logs copied elsewhere: the recorded paths point to the old place, the sibling folders are found
    copy = tmp_path / "copied"
    shutil.copytree(tmp_path / "logs", copy)
    runs, _ = collect_inputs([str(copy)])
    (moved,) = [run for run in runs if run.folder.endswith("_3")]
    np.testing.assert_array_equal(moved.agent_steps, joined.agent_steps)
    assert all(segment.startswith(str(copy)) for segment in moved.segments)
    # A run whose checkpoint's run is not among the inputs is left as it is
    (alone,) = join_resumed_runs([run for run in collect_inputs([third])[0]])
    np.testing.assert_array_equal(alone.agent_steps, [10, 30])


def write_final_model(run_folder: str, env_id: str, num_timesteps: int) -> None:
    """Write the ``<run>/<EnvId>.zip`` rl-zoo3 saves at the end of a run, in SB3's format (its data part alone)."""
    from stable_baselines3.common.save_util import save_to_zip_file

    save_to_zip_file(os.path.join(run_folder, f"{env_id}.zip"), data={"num_timesteps": num_timesteps})


def test_games_are_placed_by_the_final_models_agent_steps(tmp_path: pathlib.Path) -> None:
    """
    Monitor frames / frame skip run ahead of the agent's steps (reset frames); where a folder holds its run's final
    model, its games are scaled to end at the model's agent steps, so the games before a resumed checkpoint are kept.
    """
    env_id = "BreakoutNoFrameskip-v4"
    root = tmp_path / "logs" / "paper_dqn"
    first, second = (str(root / f"{env_id}_{run}") for run in (1, 2))
    # Run 1: three games of 440 frames, i.e. 110 "agent steps" each at frames / 4, but 100 each in fact: it stopped
    # at its checkpoint of 300 agent steps after the third game, and rl-zoo3 saved its final model there
    write_monitor(os.path.join(first, "0.monitor.csv"), env_id, [(1.0, 440), (2.0, 440), (3.0, 440)])
    write_zoo_args(first, env_id, "")
    # Run 2 resumed that checkpoint and is still running (no final model yet)
    write_monitor(os.path.join(second, "0.monitor.csv"), env_id, [(4.0, 440), (5.0, 440)])
    write_zoo_args(second, env_id, os.path.join(first, "rl_model_300_steps.zip"))
    (alone,) = collect_inputs([first])[0]
    np.testing.assert_array_equal(alone.agent_steps, [110, 220, 330])  # no final model yet: frames / frame skip
    assert not alone.exact
    write_final_model(first, env_id, 300)
    (alone,) = collect_inputs([first])[0]
    np.testing.assert_allclose(alone.agent_steps, [100, 200, 300])
    assert alone.exact and alone.budget == 300
    # Joined: all three games of run 1 kept (at frames / 4 the third, at 330, fell after the checkpoint and was
    # dropped), then run 2 at frames / 4 from 300. A stop at a checkpoint saves the final model one agent step later
    write_final_model(first, env_id, 301)
    (joined,) = collect_inputs([str(tmp_path / "logs")])[0]
    np.testing.assert_allclose(joined.agent_steps, [100, 200, 300, 410, 520])
    np.testing.assert_array_equal(joined.scores, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert not joined.exact  # its budget, the last game's step, is counted from the checkpoint in frames / 4
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "counted")]) == 0
    assert "| Budget (Monitor frames / frame skip) |" in (tmp_path / "counted" / TABLE_FILE).read_text()
    # Beside it a finished run of another seed, placed by its final model: the table says which is which
    other = str(root / f"{env_id}_3")
    write_monitor(os.path.join(other, "0.monitor.csv"), env_id, [(6.0, 440)])
    write_zoo_args(other, env_id, "")
    write_final_model(other, env_id, 100)
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "mixed")]) == 0
    table = (tmp_path / "mixed" / TABLE_FILE).read_text()
    assert "| Budget (agent steps or Monitor frames / frame skip) |" in table and "| 100-520 |" in table
    assert "those of its final model; other runs: Monitor frames / frame skip)." in table
    shutil.rmtree(other)
    # Run 2 ended too, at 500 agent steps: every game placed by the models, and the table says agent steps
    write_final_model(second, env_id, 500)
    (joined,) = collect_inputs([str(tmp_path / "logs")])[0]
    np.testing.assert_allclose(joined.agent_steps, [100, 200, 300, 400, 500])
    assert joined.exact
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "exact")]) == 0
    table = (tmp_path / "exact" / TABLE_FILE).read_text()
    assert "| Budget (agent steps) |" in table and "| 500 |" in table
    # A final model that cannot be read counts as none
    (pathlib.Path(second) / f"{env_id}.zip").write_bytes(b"not a zip")
    (joined,) = collect_inputs([str(tmp_path / "logs")])[0]
    np.testing.assert_allclose(joined.agent_steps, [100, 200, 300, 410, 520])


def test_games_counted_at_frame_skip_1_are_not_scaled_by_the_final_model(tmp_path: pathlib.Path) -> None:
    """At frame skip 1 the Monitor counts agent steps: a final model past the last completed game leaves the games."""
    env_id = "CartPole-v1"
    root = tmp_path / "logs" / "paper_dqn"
    first, second = (str(root / f"{env_id}_{run}") for run in (1, 2))
    # Run 1: games of 30, 50, 20 agent steps; stopped at its checkpoint of 120 agent steps, 20 steps into a 4th game
    write_monitor(os.path.join(first, "0.monitor.csv"), env_id, [(30.0, 30), (50.0, 50), (20.0, 20)])
    write_zoo_args(first, env_id, "")
    write_final_model(first, env_id, 121)
    # Run 2 resumed it at 120 and ended at 160, 10 steps into its second game
    write_monitor(os.path.join(second, "0.monitor.csv"), env_id, [(30.0, 30)])
    write_zoo_args(second, env_id, os.path.join(first, "rl_model_120_steps.zip"))
    write_final_model(second, env_id, 160)
    (joined,) = collect_inputs([str(tmp_path / "logs")])[0]
    # scaled to the final models, the games would stand at 120 * [30, 80, 100] / 100 and 120 + 40 instead
    np.testing.assert_array_equal(joined.agent_steps, [30, 80, 100, 150])
    np.testing.assert_array_equal(joined.scores, [30.0, 50.0, 20.0, 30.0])
    assert joined.frame_skip == 1 and not joined.exact  # counted, exactly: the table says Monitor frames / frame skip


def test_same_budget_references_up_to_the_budget() -> None:
    breakout = TABLE1["Breakout"]
    dopamine, cleanrl = same_budget_references(breakout, 600_000)
    # iterations 0, 1, 2 start before 600k; each spans 250k agent steps, with the mean and Dopamine's seed range
    assert [point[:3] for point in dopamine] == [(0, 250_000, 1.6), (250_000, 500_000, 3.1), (500_000, 750_000, 3.9)]
    assert [point[3:] for point in dopamine] == [DOPAMINE_SEED_RANGE["Breakout"][index] for index in range(3)]
    assert all(low <= mean <= high for *_, mean, low, high in dopamine)
    assert cleanrl == []
    dopamine, cleanrl = same_budget_references(breakout, 1_000_000)
    assert [point[2] for point in dopamine] == [DOPAMINE_PER_ITERATION["Breakout"][index] for index in range(4)]
    assert cleanrl == [(1_000_000, 25.0, 30.0)]
    # Space Invaders: Dopamine only
    dopamine, cleanrl = same_budget_references(TABLE1["SpaceInvaders"], 260_000)
    assert [point[:3] for point in dopamine] == [(0, 250_000, 167), (250_000, 500_000, 190)] and cleanrl == []
