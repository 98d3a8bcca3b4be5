"""
Training games placed at agent steps by a campaign's segment records (``campaign.training_games``), as
``campaign report`` draws them and ``scripts/training_windows.py`` averages them over windows.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
from stable_baselines3.common.monitor import Monitor

from sb3_dqn_paper.tools.campaign.config import make_config, read_config, write_config
from sb3_dqn_paper.tools.campaign.provenance import RECORD_KIND, machine_and_software, utc_now
from sb3_dqn_paper.tools.campaign.table import write_campaign_report
from sb3_dqn_paper.tools.campaign.training_games import placed_run, segment_folders

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "training_windows.py"
PONG = "PongNoFrameskip-v4"
CARTPOLE = "CartPole-v1"
MACHINE = machine_and_software()


def load_script():
    spec = importlib.util.spec_from_file_location("training_windows", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_record(
    run: pathlib.Path, number: int, start: int, end: int | None, resumed: str | None, status: int | None = 0, env: str = PONG
):
    """A segment record as `campaign run` writes it: the steps at its start and end, its command with ``-i``."""
    (run / "segments").mkdir(parents=True, exist_ok=True)
    command = ["python", "-m", "rl_zoo3.train", "--env", env] + (["-i", resumed] if resumed else [])
    record = {"kind": RECORD_KIND, "started": utc_now(), "steps_at_start": start, **MACHINE, "command": command}
    if end is not None:
        record.update(ended=utc_now(), steps_at_end=end, exit_status=status)
    (run / "segments" / f"{number:03d}.json").write_text(json.dumps(record))


def write_folder(run: pathlib.Path, number: int, resumed: str | None, games: list[tuple[float, int]], env: str = PONG) -> None:
    """rl-zoo3's folder of one segment: its Monitor file with the given (score, frames) games and its args.yml."""
    folder = run / "paper_dqn" / f"{env}_{number}"
    (folder / env).mkdir(parents=True)
    (folder / env / "args.yml").write_text(f"env: {env}\ntrained_agent: '{resumed or ''}'\n")
    with open(folder / "0.monitor.csv", "w") as file:
        file.write(f'#{{"t_start": 0, "env_id": "{env}"}}\nr,l,t\n')
        for score, frames in games:
            file.write(f"{score},{frames},0.0\n")


def checkpoint(run: pathlib.Path, number: int, steps: int, env: str = PONG) -> str:
    return str(run / "paper_dqn" / f"{env}_{number}" / f"rl_model_{steps}_steps.zip")


def three_segments(run: pathlib.Path) -> None:
    """Segment 1 (0 -> 1,000), 2 (-> 1,500), 3 still running, each with its record and folder."""
    # 4,400 frames for 1,000 agent steps (resets' frames are no agent steps), then 2,000 frames for 500 steps
    write_record(run, 1, 0, 1000, None)
    write_folder(run, 1, None, [(-21.0, 1100), (-20.0, 2200), (-19.0, 1100)])
    write_record(run, 2, 1000, 1500, checkpoint(run, 1, 1000))
    write_folder(run, 2, checkpoint(run, 1, 1000), [(-18.0, 1000), (-17.0, 1000)])
    write_record(run, 3, 1500, None, checkpoint(run, 2, 1500))
    write_folder(run, 3, checkpoint(run, 2, 1500), [(5.0, 100)])


def test_games_are_placed_by_the_segment_records(tmp_path: pathlib.Path) -> None:
    run = tmp_path / "runs" / f"{PONG}_seed0"
    three_segments(run)
    games = placed_run(run, PONG)
    # segments that ended: frames scaled to their recorded span; the running one: frames / 4 from its start
    np.testing.assert_allclose(games.agent_steps, [250, 750, 1000, 1250, 1500, 1525])
    np.testing.assert_array_equal(games.scores, [-21, -20, -19, -18, -17, 5])
    assert games.segments == tuple(str(run / "paper_dqn" / f"{PONG}_{n}") for n in (1, 2, 3))
    # frames / 4 would have put the third game at 1,100 agent steps, in the next window
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(run), "0", "1000", "1000", "1500"], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == [
        "0-1,000: 3 games, average -20.0 (-21 to -19)",
        "1,000-1,500: 2 games, average -17.5 (-18 to -17)",
    ]


def test_games_counted_at_frame_skip_1_are_not_stretched(tmp_path: pathlib.Path) -> None:
    """CartPole's Monitor counts agent steps: a cleanly ended segment's games are shifted by its start, not scaled so
    that its last completed game lands on the segment's end (the rule ``report`` uses too, ``place_games``)."""
    run = tmp_path / "runs" / f"{CARTPOLE}_seed0"
    write_record(run, 1, 0, 100, None, env=CARTPOLE)
    write_folder(run, 1, None, [(30.0, 30), (50.0, 50)], env=CARTPOLE)  # 80 of the segment's 100 steps in whole games
    write_record(run, 2, 100, 200, checkpoint(run, 1, 100, CARTPOLE), env=CARTPOLE)
    write_folder(run, 2, checkpoint(run, 1, 100, CARTPOLE), [(40.0, 40)], env=CARTPOLE)
    games = placed_run(run, CARTPOLE)
    np.testing.assert_allclose(games.agent_steps, [30, 80, 140])  # scaling would give 37.5, 100 and 200
    np.testing.assert_array_equal(games.scores, [30, 50, 40])


def test_records_are_linked_to_folders_by_the_checkpoint_they_resume(tmp_path: pathlib.Path) -> None:
    """A segment that failed before rl-zoo3 made its folder shifts the numbers; the resumed checkpoint still links."""
    run = tmp_path / "runs" / f"{PONG}_seed0"
    write_record(run, 1, 0, 1000, None)
    write_folder(run, 1, None, [(-21.0, 2000), (-20.0, 2000)])
    write_record(run, 2, 1000, 1000, checkpoint(run, 1, 1000), status=1)  # no folder
    write_record(run, 3, 1000, 2000, checkpoint(run, 1, 1000))
    write_folder(run, 2, checkpoint(run, 1, 1000), [(-10.0, 4000)])
    pairs = segment_folders(run, PONG)
    assert [(record["segment"], folder.name) for record, folder in pairs] == [(1, f"{PONG}_1"), (3, f"{PONG}_2")]
    np.testing.assert_allclose(placed_run(run, PONG).agent_steps, [500, 1000, 2000])


def test_a_failed_segment_counts_frames_up_to_its_last_checkpoint(tmp_path: pathlib.Path) -> None:
    """A crash: the games after its newest sound checkpoint were not continued by the next segment."""
    run = tmp_path / "runs" / f"{PONG}_seed0"
    write_record(run, 1, 0, 500, None, status=1)
    write_folder(run, 1, None, [(-21.0, 1600), (-20.0, 1600)])  # 400 and 800 agent steps by frames / 4
    write_record(run, 2, 500, 1000, checkpoint(run, 1, 500))
    write_folder(run, 2, checkpoint(run, 1, 500), [(-19.0, 2000)])
    games = placed_run(run, PONG)
    np.testing.assert_allclose(games.agent_steps, [400, 1000])
    np.testing.assert_array_equal(games.scores, [-21, -19])


def test_a_folder_without_record_leaves_the_run_to_frames(tmp_path: pathlib.Path) -> None:
    """A run begun by a version that wrote no records cannot be placed; the report counts its frames instead."""
    out = tmp_path / "campaign"
    write_config(out, make_config([PONG], [0], 1_000_000))
    run = out / "runs" / f"{PONG}_seed0"
    write_folder(run, 1, None, [(-21.0, 2000)])
    write_folder(run, 2, checkpoint(run, 1, 1000), [(-20.0, 2200)])
    write_record(run, 1, 1000, 1500, checkpoint(run, 1, 1000))
    assert segment_folders(run, PONG) is None and placed_run(run, PONG) is None
    write_campaign_report(out, read_config(out), tmp_path / "report")
    table = (tmp_path / "report" / "curves" / "results.md").read_text()
    assert "| Pong | PongNoFrameskip-v4 | 1 | 1,550 | 2 |" in table  # the resumed 1,000 + 2,200 frames / 4
    assert "Budget (Monitor frames / frame skip)" in table


def test_campaign_report_tables_the_placed_games(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "campaign"
    write_config(out, make_config([PONG], [0], 1_000_000))
    three_segments(out / "runs" / f"{PONG}_seed0")
    write_campaign_report(out, read_config(out), tmp_path / "report")
    table = (tmp_path / "report" / "curves" / "results.md").read_text()
    assert "| Game | Env id | Runs | Budget (agent steps) | Games |" in table
    assert "| Pong | PongNoFrameskip-v4 | 1 | 1,525 | 6 |" in table
    assert "each campaign segment's games placed between the agent steps its record gives" in table
    assert (tmp_path / "report" / "curves" / f"{PONG}.png").is_file()


def test_odd_window_edges_are_refused(tmp_path: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "0", "1000", "2000"], capture_output=True, text=True)
    assert result.returncode == 2 and "give the window edges in pairs (LO HI), got 3 numbers" in result.stderr


def test_a_run_without_records_is_refused_by_the_script(tmp_path: pathlib.Path) -> None:
    run = tmp_path / "runs" / f"{PONG}_seed0"
    write_folder(run, 1, None, [(-21.0, 4400)])
    result = subprocess.run([sys.executable, str(SCRIPT), str(run), "0", "1000"], capture_output=True, text=True)
    assert result.returncode == 1 and "has no training games that its segment records place" in result.stderr


def test_monitor_files_of_sb3_are_read(tmp_path: pathlib.Path) -> None:
    """The files read are SB3's Monitor format (the header line SB3 writes, then r, l, t)."""
    import gymnasium as gym

    run = tmp_path / "runs" / "CartPole-v1_seed0"
    folder = run / "paper_dqn" / "CartPole-v1_1"
    folder.mkdir(parents=True)
    env = Monitor(gym.make("CartPole-v1"), str(folder / "0"))
    env.reset(seed=0)
    lengths = []
    for _ in range(3):
        done, length = False, 0
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            done, length = terminated or truncated, length + 1
        lengths.append(length)
        env.reset()
    env.close()
    (run / "segments").mkdir()
    record = {"kind": RECORD_KIND, "steps_at_start": 0, "steps_at_end": sum(lengths), "exit_status": 0, "command": []}
    (run / "segments" / "001.json").write_text(json.dumps(record))
    steps, scores = load_script().placed_games(run)
    np.testing.assert_allclose(steps, np.cumsum(lengths))
    np.testing.assert_array_equal(scores, lengths)
