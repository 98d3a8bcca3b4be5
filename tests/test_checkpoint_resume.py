"""
Exact resume: a run checkpointed, stopped (or killed by a signal) and resumed in a new process ends with the same
weights, optimizer state, replay buffer and counters as the run that was never stopped.

The runs happen in subprocesses (``checkpoint_worker.py``) so that nothing survives in memory between the two
halves of a run, as after a real interruption.
"""

import os
import pathlib
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import numpy as np
import pytest
import torch as th
from checkpoint_worker import RUNS, dump_state, make_env, make_model

from sb3_dqn_paper.checkpoint import list_checkpoints, load_checkpoint, resume_learning, save_checkpoint

pytestmark = pytest.mark.slow

WORKER = pathlib.Path(__file__).with_name("checkpoint_worker.py")
ROOT = WORKER.parents[1]
ENVS = list(RUNS)


def worker_command(*args: str) -> list[str]:
    return [sys.executable, str(WORKER), *args]


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}


def run_worker(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(worker_command(*args), env=worker_env(), capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, f"worker {args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def load_state(path: pathlib.Path) -> dict[str, Any]:
    with open(path, "rb") as file:
        return pickle.load(file)


def assert_same_run(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    assert actual["counters"] == expected["counters"]
    assert expected["weights"].keys() == actual["weights"].keys()
    for name, tensor in expected["weights"].items():
        assert th.equal(tensor, actual["weights"][name]), f"weights {name} differ"
    expected_opt, actual_opt = expected["optimizer"]["state"], actual["optimizer"]["state"]
    assert expected_opt.keys() == actual_opt.keys() and len(expected_opt) > 0
    for key, state in expected_opt.items():
        for name, value in state.items():
            assert th.equal(value, actual_opt[key][name]), f"optimizer state {key}.{name} differs"
    assert expected["buffer"].keys() == actual["buffer"].keys()
    for name, value in expected["buffer"].items():
        assert np.array_equal(value, actual["buffer"][name]), f"replay buffer {name} differs"
    assert np.array_equal(expected["last_obs"], actual["last_obs"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Full runs with checkpoints (one process), then every run resumed from its middle checkpoint (another)."""
    out = tmp_path_factory.mktemp("runs")
    envs = ",".join(ENVS)
    run_worker("run", "--envs", envs, "--out", str(out))
    middle = "{out}/{env}/checkpoints/paper_dqn_{save_freq}_steps.zip"
    run_worker("resume", "--envs", envs, "--out", str(out), "--checkpoint", middle)
    return out


@pytest.mark.parametrize("env_name", ENVS)
def test_resumed_run_equals_uninterrupted_run(runs: pathlib.Path, env_name: str) -> None:
    full = load_state(runs / env_name / "final.pkl")
    resumed = load_state(runs / env_name / "resumed.pkl")
    steps, save_freq = RUNS[env_name]
    assert full["counters"]["num_timesteps"] == steps
    assert full["counters"]["n_updates"] > steps - save_freq  # updates happened after the checkpoint
    assert_same_run(full, resumed)


def test_checkpoint_callback_does_not_change_the_run(runs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    th.set_num_threads(1)
    steps, _ = RUNS["cartpole"]
    model = make_model("cartpole", make_env("cartpole", seed=7))
    model.learn(steps)  # no callback, in this process
    dump_state(model, tmp_path / "plain.pkl")
    assert_same_run(load_state(runs / "cartpole" / "final.pkl"), load_state(tmp_path / "plain.pkl"))


def test_resume_without_the_random_states_is_a_different_run(runs: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The negative control: the comparison above does detect a resume that misses part of the state."""
    th.set_num_threads(1)
    np.random.seed(123), random.seed(123)
    middle = runs / "cartpole" / "checkpoints" / "paper_dqn_200_steps.zip"
    model = load_checkpoint(middle, make_env("cartpole", seed=7), restore_rng_states=False)
    resume_learning(model)
    dump_state(model, tmp_path / "no_rng.pkl")
    with pytest.raises(AssertionError):
        assert_same_run(load_state(runs / "cartpole" / "final.pkl"), load_state(tmp_path / "no_rng.pkl"))


def test_save_between_learn_calls_and_resume(tmp_path: pathlib.Path) -> None:
    """``learn(n)``, ``save_checkpoint``, load, ``learn(n, reset_num_timesteps=False)`` == two ``learn`` calls."""
    th.set_num_threads(1)
    straight = make_model("cartpole", make_env("cartpole", seed=7))
    straight.learn(150)
    straight.learn(150, reset_num_timesteps=False)
    dump_state(straight, tmp_path / "straight.pkl")

    first = make_model("cartpole", make_env("cartpole", seed=7))
    first.learn(150)
    save_checkpoint(first, tmp_path / "half")
    del first
    np.random.rand(10)  # disturb the global random state; the load must put it back
    second = load_checkpoint(tmp_path / "half.zip", make_env("cartpole", seed=99))
    second.learn(150, reset_num_timesteps=False)
    dump_state(second, tmp_path / "resumed.pkl")
    assert_same_run(load_state(tmp_path / "straight.pkl"), load_state(tmp_path / "resumed.pkl"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_checkpoints_stops_and_resume_finishes_the_same_run(
    runs: pathlib.Path, tmp_path: pathlib.Path, signum: signal.Signals
) -> None:
    marker_step = 100
    process = subprocess.Popen(
        worker_command("run-until-signal", "--envs", "cartpole", "--out", str(tmp_path), "--marker-step", str(marker_step)),
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = tmp_path / "cartpole" / "marker"
    deadline = time.monotonic() + 240
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), f"the run never reached step {marker_step}: {process.communicate()}"
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=240)

    assert process.returncode == 0, stderr
    assert f"interrupted by {signum.name}" in stdout
    assert not (tmp_path / "cartpole" / "final.pkl").exists()  # learn() stopped before the end
    checkpoints = list_checkpoints(tmp_path / "cartpole" / "checkpoints")
    stopped_at = int(checkpoints[-1].name.split("_")[-2])
    assert marker_step <= stopped_at < RUNS["cartpole"][0]

    result = run_worker("resume", "--envs", "cartpole", "--out", str(tmp_path))  # the folder: newest checkpoint
    assert f"resuming at step {stopped_at}" in result.stdout
    assert_same_run(load_state(runs / "cartpole" / "final.pkl"), load_state(tmp_path / "cartpole" / "resumed.pkl"))


def test_compressed_replay_buffer_round_trip(tmp_path: pathlib.Path) -> None:
    model = make_model("image", make_env("image", seed=3))
    model.learn(60)
    dump_state(model, tmp_path / "before.pkl")
    stored = save_checkpoint(model, tmp_path / "stored.zip")
    deflated = save_checkpoint(model, tmp_path / "deflated.zip", compress_replay_buffer=True)
    assert deflated.stat().st_size < stored.stat().st_size
    for path in (stored, deflated):
        loaded = load_checkpoint(path, make_env("image", seed=3))
        dump_state(loaded, tmp_path / "after.pkl")
        assert_same_run(load_state(tmp_path / "before.pkl"), load_state(tmp_path / "after.pkl"))


def test_documented_shell_form_stops_before_training(tmp_path: pathlib.Path) -> None:
    # the docs' job-script form of a resume: with no checkpoint the substitution fails, so the script exits before
    # the training command runs (it cannot silently start over)
    script = textwrap.dedent(
        f"""
        set -e
        ckpt=$("{sys.executable}" -m sb3_dqn_paper.tools.checkpoint --latest no/such/folder)
        echo "TRAINING WOULD START FROM $ckpt"
        """
    )
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "no usable checkpoint" in result.stderr  # refused by the command, not a missing module
    assert "TRAINING WOULD START" not in result.stdout
