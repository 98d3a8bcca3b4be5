"""The time-boxed training run of the device lease (``sb3_dqn_paper.benchmarks.timed_train``), on the CPU."""

import csv
import json

import pytest
import torch as th

from sb3_dqn_paper.benchmarks import timed_train
from sb3_dqn_paper.paper_dqn import PaperDQN


def read_monitor(path) -> list[dict[str, str]]:
    with open(path) as file:
        header = file.readline()
        assert header.startswith("#{") and "t_start" in header  # SB3's Monitor header line
        return list(csv.DictReader(file))


@pytest.mark.parametrize("backend", ["ale", "sb3"])
def test_run_to_max_steps_writes_model_monitor_and_summary(tmp_path, backend):
    settings = timed_train.TrainSettings(
        device="cpu", backend=backend, n_envs=2, seconds=600, max_steps=70, buffer_size=500, learning_starts=60
    )
    summary = timed_train.run(settings, str(tmp_path), log=lambda line: None)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip", "monitor.csv", "summary.json"]
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped_by"] == "max_steps" and summary["steps"] == 70
    # gradient_steps=-1: one update per agent step of both envs once learning_starts is passed
    assert summary["updates"] == 70 - 60
    assert summary["buffer_size"] == 500 and summary["learning_starts"] == 60
    assert summary["replay_buffer_class"] == "FrameStackReplayBuffer" and summary["replay_frames_device"] == "cpu"
    assert summary["after_learning_starts"]["steps"] == 10
    assert summary["steps_per_s"] == pytest.approx(70 / summary["seconds"])
    assert len(read_monitor(tmp_path / "monitor.csv")) == summary["games"]
    model = PaperDQN.load(tmp_path / "model.zip", device="cpu")
    assert model.num_timesteps == 70 and model.buffer_size == 500


def test_budget_stops_the_run(tmp_path):
    settings = timed_train.TrainSettings(
        device="cpu", backend="ale", n_envs=2, seconds=1.0, buffer_size=20_000, learning_starts=10_000, progress_every=0.2
    )
    summary = timed_train.run(settings, str(tmp_path), log=lambda line: None)
    assert summary["stopped_by"] == "budget" and 0 < summary["steps"] < settings.max_steps
    assert 1.0 <= summary["seconds"] < 30
    assert summary["updates"] == 0 and "after_learning_starts" not in summary  # learning_starts not reached
    assert summary["progress"] and summary["progress"][-1]["steps"] <= summary["steps"]
    rows = read_monitor(tmp_path / "monitor.csv")
    assert len(rows) == summary["games"]
    for row in rows:
        assert float(row["r"]) >= 0 and int(row["l"]) > 0 and float(row["t"]) <= summary["seconds"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backend", "gym"], "invalid choice"),
        (["--n-envs", "0"], "--n-envs must be at least 1"),
        (["--seconds", "0"], "--seconds must be positive"),
        pytest.param(
            ["--device", "cuda:0"], "no CUDA device", marks=pytest.mark.skipif(th.cuda.is_available(), reason="has CUDA")
        ),
        (["--env", "ALE/Breakout-v5"], "skips"),
        (["--precision", "fp16"], "precision must be one of"),
    ],
)
def test_bad_arguments_are_refused_before_training(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        timed_train.parse_args(["--out-dir", str(tmp_path), "--device", "cpu", *argv])
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_out_dir_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        timed_train.parse_args(["--out-dir", str(tmp_path / "nope"), "--device", "cpu"])
    assert "is not an existing folder" in capsys.readouterr().err
