"""scripts/training_windows.py places each segment's training games between the agent steps its record gives."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import numpy as np
from stable_baselines3.common.monitor import Monitor

from sb3_dqn_paper.tools.campaign.provenance import RECORD_KIND

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "training_windows.py"


def load_script():
    spec = importlib.util.spec_from_file_location("training_windows", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_segment(run: pathlib.Path, number: int, start: int, end: int | None, games: list[tuple[float, int]]) -> None:
    """A segment record and a Monitor file with the given (score, frames) games, as a campaign leaves them."""
    (run / "segments").mkdir(parents=True, exist_ok=True)
    record = {"kind": RECORD_KIND, "steps_at_start": start, "steps_at_end": end}
    (run / "segments" / f"{number:03d}.json").write_text(json.dumps(record))
    folder = run / "paper_dqn" / f"PongNoFrameskip-v4_{number}"
    folder.mkdir(parents=True)
    with open(folder / "0.monitor.csv", "w") as file:
        file.write('#{"t_start": 0, "env_id": "PongNoFrameskip-v4"}\nr,l,t\n')
        for score, frames in games:
            file.write(f"{score},{frames},0.0\n")


def test_games_are_placed_by_the_segment_records(tmp_path: pathlib.Path) -> None:
    run = tmp_path / "runs" / "PongNoFrameskip-v4_seed0"
    # 4,400 frames for 1,000 agent steps (resets' frames are no agent steps), then 2,000 frames for 500 steps
    write_segment(run, 1, 0, 1000, [(-21.0, 1100), (-20.0, 2200), (-19.0, 1100)])
    write_segment(run, 2, 1000, 1500, [(-18.0, 1000), (-17.0, 1000)])
    write_segment(run, 3, 1500, None, [(5.0, 100)])  # still running: left out
    steps, scores = load_script().placed_games(run)
    np.testing.assert_allclose(steps, [250, 750, 1000, 1250, 1500])
    np.testing.assert_array_equal(scores, [-21, -20, -19, -18, -17])
    # frames / 4 would have put the third game at 1,100 agent steps, in the next window
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(run), "0", "1000", "1000", "1500"], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == [
        "0-1,000: 3 games, average -20.0 (-21 to -19)",
        "1,000-1,500: 2 games, average -17.5 (-18 to -17)",
    ]


def test_odd_window_edges_are_refused(tmp_path: pathlib.Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "0", "1000", "2000"], capture_output=True, text=True)
    assert result.returncode == 2 and "give the window edges in pairs (LO HI), got 3 numbers" in result.stderr


def test_monitor_files_of_sb3_are_read(tmp_path: pathlib.Path) -> None:
    """The files the script reads are SB3's Monitor format (the header line SB3 writes, then r, l, t)."""
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
    record = {"kind": RECORD_KIND, "steps_at_start": 0, "steps_at_end": sum(lengths)}
    (run / "segments" / "001.json").write_text(json.dumps(record))
    steps, scores = load_script().placed_games(run)
    np.testing.assert_allclose(steps, np.cumsum(lengths))
    np.testing.assert_array_equal(scores, lengths)
