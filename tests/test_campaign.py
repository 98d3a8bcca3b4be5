"""
``python -m sb3_dqn_paper.tools.campaign``: a two-game campaign stopped with SIGTERM and started again ends where the
same campaign without a stop ends; milestones hold; a changed configuration is refused; a crashing run is reported
while the other finishes; old checkpoints are deleted once evaluated.

The runs are real ``rl_zoo3.train`` processes on CartPole-v1 and Acrobot-v1 (their entries in paper_dqn.yml,
updates from step 500): a few seconds of training each.
"""

import json
import os
import pathlib
import re
import signal
import time

import pytest
import torch as th
from zoo_cli import require_installed_hook, run_python, start_python

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.errors import InvalidArgumentError, UnknownEnvironmentError
from sb3_dqn_paper.precision import cpu_model
from sb3_dqn_paper.tools.campaign.config import (
    CONFIG_FILE,
    make_config,
    merge_with_saved,
    parse_games,
    read_config,
    write_config,
)
from sb3_dqn_paper.tools.campaign.provenance import code_hash, read_records
from sb3_dqn_paper.tools.campaign.runs import campaign_runs, evaluation_points, log_tail, next_stop, run_stops, segment_command
from sb3_dqn_paper.tools.held_out_q import collect_held_out_states, held_out_measures

GAMES = "CartPole-v1,Acrobot-v1"
STEPS = 4000
#: The campaign of every test here: checkpoints every 1,000 steps, a milestone at 2,000, short evaluations.
RUN = ["--games", GAMES, "--steps", str(STEPS), "--save-freq", "1000", "--eval-every", "1000", "--eval-steps", "200",
       "--milestones", "2000", "--hyperparams", "learning_starts:500"]  # fmt: skip


#: The same campaign evaluated at the milestone and the end only (four evaluations fewer): for the tests of stops.
FEW_EVALS = [*RUN, "--eval-every", "2000"]


def campaign(out: pathlib.Path, *args: str, check: bool = True, timeout: float = 600):
    return run_python(["-m", "sb3_dqn_paper.tools.campaign", *args], cwd=out.parent, check=check, timeout=timeout)


def final_checkpoint(out: pathlib.Path, run: str) -> pathlib.Path:
    found = sorted((out / "runs" / run / "paper_dqn").glob(f"*/rl_model_{STEPS}_steps.zip"))
    assert len(found) == 1, f"{run}: {found}"
    return found[0]


def assert_same_run(expected: pathlib.Path, actual: pathlib.Path) -> None:
    """Two checkpoints hold the same weights, optimizer state, counters and replay buffer."""
    from sb3_dqn_paper.checkpoint import load_checkpoint

    models = [
        load_checkpoint(path, restore_env_state=False, restore_rng_states=False, device="cpu") for path in (expected, actual)
    ]
    counters = ("num_timesteps", "_n_updates", "_episode_num", "exploration_rate")
    assert [getattr(models[1], name) for name in counters] == [getattr(models[0], name) for name in counters]
    assert models[0].num_timesteps == STEPS and models[0]._n_updates == STEPS - 500
    weights = [model.policy.state_dict() for model in models]
    for name, tensor in weights[0].items():
        assert th.equal(tensor, weights[1][name]), f"weights {name} differ"
    optimizer = [model.policy.optimizer.state_dict()["state"] for model in models]
    assert optimizer[0]
    for key, state in optimizer[0].items():
        for name, value in state.items():
            assert th.equal(value, optimizer[1][key][name]), f"optimizer state {key}.{name} differs"
    buffers = [model.replay_buffer for model in models]
    assert buffers[0].pos == buffers[1].pos
    for field in ("observations", "actions", "rewards", "dones"):
        assert (getattr(buffers[0], field) == getattr(buffers[1], field)).all(), f"replay buffer {field} differs"


def segment_targets(out: pathlib.Path, run: str) -> list[int]:
    """The ``-n`` of each segment of a run, in order."""
    targets = []
    for log in sorted((out / "runs" / run / "segments").glob("[0-9]*.log")):
        words = log.read_text().splitlines()[0].split()
        targets.append(int(words[words.index("-n") + 1]))
    return targets


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The campaign run through, one run at a time."""
    require_installed_hook()
    out = tmp_path_factory.mktemp("uninterrupted") / "campaign"
    result = campaign(out, "run", str(out), *RUN, "--jobs", "1")
    assert "segment to 2,000" in result.stdout
    return out


@pytest.mark.slow
@pytest.mark.zoo
def test_sigterm_then_the_same_command_ends_as_the_campaign_without_a_stop(
    uninterrupted: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "campaign"
    process = start_python(["-m", "sb3_dqn_paper.tools.campaign", "run", str(out), *RUN, "--jobs", "2"], cwd=tmp_path)
    runs = out / "runs"
    deadline = time.time() + 300
    # stop in the middle of the second segments (past the milestone): when the first run has written its checkpoint
    # at 3,000 agent steps
    while not list(runs.glob("*/paper_dqn/*/rl_model_3000_steps.zip")):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no run reached 3,000 agent steps"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout + stderr
    assert "stopped; run the same command to go on" in stdout
    stopped_at = {}
    for run in ("CartPole-v1_seed0", "Acrobot-v1_seed0"):
        steps = [int(path.name.split("_")[2]) for path in (out / "runs" / run / "paper_dqn").glob("*/rl_model_*_steps.zip")]
        stopped_at[run] = max(steps)
        assert 2000 <= stopped_at[run] < STEPS, f"{run} stopped at {steps}"
    assert any(steps % 1000 for steps in stopped_at.values()), f"no stop between two checkpoints: {stopped_at}"
    assert not list(runs.glob("*/failed.json"))

    result = campaign(out, "run", str(out), *RUN, "--jobs", "2")
    assert "resuming rl_model_" in result.stdout
    for run in ("CartPole-v1_seed0", "Acrobot-v1_seed0"):
        assert_same_run(final_checkpoint(uninterrupted, run), final_checkpoint(out, run))
        # the same evaluations at every point, from the same weights
        for name in ("1000", "2000", "3000", str(STEPS)):
            expected = json.loads((uninterrupted / "evals" / run / f"{name}.json").read_text())
            actual = json.loads((out / "evals" / run / f"{name}.json").read_text())
            assert actual["episodes"] == expected["episodes"] and actual["model_num_timesteps"] == int(name)
    # the same command once more: nothing is left to do
    again = campaign(out, "run", str(out), *RUN)
    assert "segment to" not in again.stdout


@pytest.mark.slow
@pytest.mark.zoo
def test_milestones_evaluations_and_disk(uninterrupted: pathlib.Path) -> None:
    # one job: each run reached the milestone before any went past it
    assert segment_targets(uninterrupted, "CartPole-v1_seed0") == [2000, STEPS]
    assert segment_targets(uninterrupted, "Acrobot-v1_seed0") == [2000, STEPS]
    order = sorted(
        (uninterrupted / "runs" / run / "segments" / name)
        for run in ("CartPole-v1_seed0", "Acrobot-v1_seed0")
        for name in ("001.log", "002.log")
    )
    by_start = sorted(order, key=lambda path: path.stat().st_mtime_ns)
    assert [path.name for path in by_start[:2]] == ["001.log", "001.log"], "a run went past the milestone first"
    for run in ("CartPole-v1_seed0", "Acrobot-v1_seed0"):
        evaluations = sorted(int(path.stem) for path in (uninterrupted / "evals" / run).glob("*.json"))
        assert evaluations == [1000, 2000, 3000, 4000]
        models = sorted(
            int(path.name.split("_")[1]) for path in (uninterrupted / "runs" / run).glob("paper_dqn/*/model_*.zip")
        )
        assert models == evaluations
        for steps in evaluations:
            data = json.loads((uninterrupted / "evals" / run / f"{steps}.json").read_text())
            assert data["protocol"]["epsilon"] == 0.05 and data["protocol"]["n_steps"] == 200
            model = PaperDQN.load(uninterrupted / "evals" / run / data["model_path"], device="cpu")
            assert model.num_timesteps == steps
            # the held-out measures of the evaluated weights (an MLP: no convolution layer, no unit count)
            env_id = run.removesuffix("_seed0")
            average_max_q, units = held_out_measures(model, collect_held_out_states(env_id, 1000, seed=0))
            expected = dict(states=1000, seed=0, average_max_q=pytest.approx(average_max_q, rel=1e-5), inactive_units=None)
            assert data["held_out"] == {**expected, "units": None}
            assert units is None
        # each segment's record: agent steps at start and end, exit status, this machine and this code
        records = read_records(uninterrupted / "runs" / run / "segments")
        ends = [(r["segment"], r["steps_at_start"], r["stop_at"], r["steps_at_end"], r["exit_status"]) for r in records]
        assert ends == [(1, 0, 2000, 2000, 0), (2, 2000, STEPS, STEPS, 0)]
        for record in records:
            assert record["started"] <= record["ended"] and record["cpu"] == cpu_model()
            assert record["code_sha256"] == code_hash() and record["versions"]["torch"] == th.__version__
        log = (uninterrupted / "runs" / run / "segments" / "002.log").read_text().splitlines()[0]
        assert "-i" in records[1]["command"] and log.startswith("$ ") and records[1]["command"][-1] in log
        # of the checkpoints (with replay buffer) only the newest two are kept; rl-zoo3's replay_buffer.pkl copies go
        checkpoints = sorted(int(p.name.split("_")[2]) for p in (uninterrupted / "runs" / run).glob("paper_dqn/*/rl_model_*"))
        assert checkpoints == [3000, 4000]
        assert not list((uninterrupted / "runs" / run).glob("paper_dqn/*/replay_buffer.pkl"))


@pytest.mark.slow
@pytest.mark.zoo
def test_status_and_commands(uninterrupted: pathlib.Path) -> None:
    status = campaign(uninterrupted, "status", str(uninterrupted))
    rows = [line for line in status.stdout.splitlines() if "_seed0" in line]
    assert len(rows) == 2 and all("4,000" in row and "done" in row for row in rows), status.stdout
    commands = campaign(uninterrupted, "commands", str(uninterrupted)).stdout.splitlines()
    assert commands[1:] == [
        f"python -m sb3_dqn_paper.tools.campaign run {uninterrupted} --games {game} --seeds 0 --jobs 1"
        for game in ("CartPole-v1", "Acrobot-v1")
    ]
    # each printed command is idempotent: the run is done, nothing starts
    again = run_python(commands[1].split()[1:], cwd=uninterrupted.parent)
    assert "segment to" not in again.stdout


@pytest.mark.slow
@pytest.mark.zoo
def test_a_crashing_run_is_reported_and_the_other_finishes(tmp_path: pathlib.Path) -> None:
    require_installed_hook()
    out = tmp_path / "campaign"
    process = start_python(["-m", "sb3_dqn_paper.tools.campaign", "run", str(out), *FEW_EVALS, "--jobs", "2"], cwd=tmp_path)
    acrobot_log = out / "runs" / "Acrobot-v1_seed0" / "segments" / "001.log"
    # killed once its first checkpoint (1,000 of the segment's 2,000 steps) is written: mid-run, with a checkpoint
    # to resume from (waiting for a log line instead depended on the episodes' lengths, which differ between CPUs)
    deadline = time.time() + 300
    while not list((out / "runs" / "Acrobot-v1_seed0").glob("paper_dqn/*/rl_model_1000_steps.zip")):
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.1)
    victim = next(
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit() and b"Acrobot-v1_seed0" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    os.kill(victim, signal.SIGKILL)  # a crash: no checkpoint, no clean exit
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stdout + stderr
    assert "Acrobot-v1_seed0: FAILED (exit status -9)" in stdout
    failure = json.loads((out / "runs" / "Acrobot-v1_seed0" / "failed.json").read_text())
    assert failure["exit_status"] == -9 and "Acrobot-v1" in failure["log_tail"]
    assert failure["log_tail"] == log_tail(acrobot_log)
    assert (out / "evals" / "CartPole-v1_seed0" / f"{STEPS}.json").is_file()  # the other run went on to the end
    status = campaign(out, "status", str(out)).stdout
    assert any("Acrobot" in line and "failed" in line for line in status.splitlines()), status
    # the same command again resumes the crashed run from its newest checkpoint
    result = campaign(out, "run", str(out), *FEW_EVALS)
    assert re.search(r"Acrobot-v1_seed0: segment to [\d,]+ agent steps \(resuming rl_model_\d+_steps\.zip\)", result.stdout)
    assert (out / "evals" / "Acrobot-v1_seed0" / f"{STEPS}.json").is_file()
    assert not (out / "runs" / "Acrobot-v1_seed0" / "failed.json").exists()


def test_a_changed_configuration_is_refused_and_the_folder_kept(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    from sb3_dqn_paper.tools.campaign.cli import main

    out = tmp_path / "campaign"
    config = make_config(parse_games(GAMES), [0], STEPS, [2000], 1000, 1000, 200, "cpu", ["learning_starts:500"])
    write_config(out, config)
    before = (out / CONFIG_FILE).read_bytes()
    changed = {
        "--save-freq": ("500", "save_freq: 1000 in campaign.json, 500 now"),
        "--hyperparams": ("learning_starts:600", "hyperparams: ['learning_starts:500'] in campaign.json"),
        "--milestones": ("3000", "milestones: [2000] in campaign.json, [3000] now"),
        "--steps": ("3000", "--steps 3,000 is below the 4,000 agent steps run CartPole-v1_seed0"),
        "--games": ("CartPole-v1,MountainCar-v0", "games MountainCar-v0 are not in it"),
        "--replay-compression": ("lz4", "replay_compression: 'zstd' in campaign.json, 'lz4' now"),
        "--eval-steps": ("10000", "eval_steps: 200 in campaign.json, 10000 now"),
    }
    for option, (value, message) in changed.items():
        args = dict(zip(RUN[::2], RUN[1::2], strict=True)) | {option: value}
        assert main(["run", str(out), *(item for pair in args.items() for item in pair)]) == 2, option
        assert message in capsys.readouterr().err, option
        assert (out / CONFIG_FILE).read_bytes() == before
        assert sorted(path.name for path in out.iterdir()) == [CONFIG_FILE]
    # raising --steps is allowed, for all runs or for some (the others keep theirs)
    given = make_config(["CartPole-v1"], [0], 10_000, [2000], 1000, 1000, 200, "cpu", ["learning_starts:500"])
    raised = merge_with_saved(read_config(out), given, milestones_given=False)
    assert raised.targets == {"CartPole-v1_seed0": 10_000, "Acrobot-v1_seed0": STEPS}


def test_bad_input_is_refused_before_anything_starts(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    from sb3_dqn_paper.tools.campaign.cli import main

    with pytest.raises(UnknownEnvironmentError, match="NoSuchGame-v4"):
        parse_games("Pong,NoSuchGame-v4")
    with pytest.raises(InvalidArgumentError, match="twice"):
        parse_games("Pong,PongNoFrameskip-v4")
    assert parse_games("table1")[0] == "BeamRiderNoFrameskip-v4" and len(parse_games("table1")) == 7
    cases = {
        ("--steps", "1e6", "--milestones", "2000000"): "--milestones 2,000,000 is beyond --steps 1,000,000",
        ("--steps", "1000", "--save-freq", "300", "--eval-every", "500"): "must be a positive multiple of --save-freq",
        ("--steps", "1.5"): "'1.5' is not a whole number",
        ("--steps", "1000", "--seeds", "0,0"): "names a seed twice",
        ("--steps", "1000", "--hyperparams", "n_timesteps:5"): "n_timesteps is set by the campaign",
        ("--steps", "1000", "--hyperparams", "nocolon"): "give KEY:VALUE",
    }
    for extra, message in cases.items():
        assert main(["run", str(tmp_path / "new"), "--games", "Pong", *extra]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "new").exists()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    assert main(["run", str(occupied), "--games", "Pong", "--steps", "1000"]) == 2
    assert "is not a campaign folder" in capsys.readouterr().err
    assert [path.name for path in occupied.iterdir()] == ["notes.txt"]


def test_segments_evaluation_points_and_commands() -> None:
    config = make_config(["BreakoutNoFrameskip-v4", "CartPole-v1"], [0, 1], 2_500_000, [1_000_000, 2_500_000])
    assert run_stops(config, 2_500_000) == [1_000_000, 2_500_000]
    assert run_stops(config, 10_000_000) == [1_000_000, 2_500_000, 10_000_000]
    assert next_stop(0, [1_000_000, 2_500_000]) == 1_000_000
    assert next_stop(1_234_567, [1_000_000, 2_500_000]) == 2_500_000
    assert next_stop(2_500_000, [1_000_000, 2_500_000]) is None
    assert evaluation_points(config, 2_500_000) == [250_000 * k for k in range(1, 11)]
    breakout, _, cartpole, _ = campaign_runs("/tmp/out", config)
    command = segment_command(breakout, config, 1_000_000, None, python="python")
    assert command[:13] == ["python", "-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "BreakoutNoFrameskip-v4",
                            "--seed", "0", "-n", "1000000", "-f", "/tmp/out/runs/BreakoutNoFrameskip-v4_seed0"]  # fmt: skip
    assert command[-2:] == ["--hyperparams", "replay_buffer_kwargs:dict(compression='zstd')"]
    assert "--save-replay-buffer" in command and command[command.index("--num-threads") + 1] == "1"
    resumed = segment_command(cartpole, config, 2_500_000, __import__("pathlib").Path("/x/rl_model_5_steps.zip"))
    assert resumed[resumed.index("-i") + 1] == "/x/rl_model_5_steps.zip"
    assert "--hyperparams" not in resumed  # no frame buffer to compress for CartPole


@pytest.mark.slow
@pytest.mark.zoo
def test_a_killed_campaign_leaves_no_run_behind(tmp_path: pathlib.Path) -> None:
    require_installed_hook()
    out = tmp_path / "campaign"
    args = ["--games", "CartPole-v1", "--steps", str(STEPS), "--save-freq", "1000", "--eval-every", str(STEPS),
            "--eval-steps", "200", "--hyperparams", "learning_starts:500"]  # fmt: skip
    process = start_python(["-m", "sb3_dqn_paper.tools.campaign", "run", str(out), *args], cwd=tmp_path)
    deadline = time.time() + 300
    while not list((out / "runs").glob("*/paper_dqn/*/rl_model_1000_steps.zip")):
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.1)
    segment = next(
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit()
        and b"rl_zoo3.train" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        and str(out).encode() in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    process.kill()  # SIGKILL: the campaign cannot pass anything on; the kernel sends the segment SIGTERM
    process.communicate()
    while pathlib.Path(f"/proc/{segment}").exists() and b"zombie" not in pathlib.Path(f"/proc/{segment}/status").read_bytes():
        assert time.time() < deadline, "the segment outlived its campaign"
        time.sleep(0.1)
    steps = sorted(int(p.name.split("_")[2]) for p in (out / "runs").glob("*/paper_dqn/*/rl_model_*_steps.zip"))
    assert steps[-1] > 1000 and steps[-1] % 1000, f"no checkpoint at the stop: {steps}"
    result = campaign(out, "run", str(out))  # the folder's own configuration: options left out
    assert f"resuming rl_model_{steps[-1]}_steps.zip" in result.stdout
    assert (out / "evals" / "CartPole-v1_seed0" / f"{STEPS}.json").is_file()


@pytest.mark.slow
@pytest.mark.zoo
def test_two_run_commands_on_one_folder_share_nothing(tmp_path: pathlib.Path) -> None:
    require_installed_hook()
    out = tmp_path / "campaign"
    first = start_python(["-m", "sb3_dqn_paper.tools.campaign", "run", str(out), *FEW_EVALS, "--jobs", "1"], cwd=tmp_path)
    deadline = time.time() + 300
    while not (out / "runs" / "CartPole-v1_seed0" / "segment.pid").is_file():
        assert first.poll() is None and time.time() < deadline
        time.sleep(0.1)
    # while the first owns both runs (one running, one waiting for the job), a second command finds nothing to do
    status = campaign(out, "status", str(out)).stdout
    assert any("CartPole" in line and "running" in line for line in status.splitlines()), status
    assert any("Acrobot" in line and "waiting" in line for line in status.splitlines()), status
    second = campaign(out, "run", str(out))
    assert "left alone, owned by another campaign process" in second.stdout and "segment to" not in second.stdout
    # the first goes on undisturbed: it starts the waiting run once the job is free; then it is stopped (the rest of the
    # campaign would test nothing more here)
    while not (out / "runs" / "Acrobot-v1_seed0" / "segment.pid").is_file():
        assert first.poll() is None and time.time() < deadline, "the first command did not go on to the next run"
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0 and "stopped; run the same command to go on" in stdout, stdout + stderr
    for run in ("CartPole-v1_seed0", "Acrobot-v1_seed0"):
        assert segment_targets(out, run) == [2000]  # each segment ran once, in the first process
        assert not (out / "runs" / run / "segment.pid").exists()


def test_an_empty_log_is_reported_with_the_free_space(tmp_path: pathlib.Path) -> None:
    """A run or evaluation that failed on a full disk could not write its error: the report says so, not nothing."""
    log = tmp_path / "eval_2000.log"
    log.write_text("")
    report = log_tail(log)
    assert report.startswith(f"(log {log} is empty; ") and " MB free on its disk" in report
    log.write_text("line 1\nOSError: [Errno 28] No space left on device\n")
    assert log_tail(log) == "line 1\nOSError: [Errno 28] No space left on device"
    assert "unreadable" in log_tail(tmp_path / "missing.log")


def test_the_speed_is_the_one_between_the_last_two_log_prints(tmp_path: pathlib.Path) -> None:
    """SB3's fps averages over the whole segment (the fast random steps too); the status reads the recent rate."""
    from sb3_dqn_paper.tools.campaign.runs import log_progress

    def block(steps: int, elapsed: int, fps: int) -> str:
        rows = [("exploration_rate", "0.7"), ("fps", fps), ("time_elapsed", elapsed), ("total_timesteps", steps)]
        return "\n".join(f"|    {key:<16} | {value:<8} |" for key, value in rows) + "\n"

    log = tmp_path / "001.log"
    log.write_text("starting\n" + block(100_000, 1_000, 100))
    assert log_progress(log) == {"exploration_rate": 0.7, "fps": 100.0, "time_elapsed": 1000.0, "total_timesteps": 100_000.0}
    log.write_text(block(100_000, 1_000, 100) + block(106_000, 1_120, 94))
    progress = log_progress(log)
    assert progress["recent_fps"] == 50.0 and progress["fps"] == 94.0 and progress["total_timesteps"] == 106_000


def test_the_eta_is_to_the_segments_end(tmp_path: pathlib.Path) -> None:
    """A run held at a milestone stops there: its ETA is to the milestone, not to the target hours of waiting later."""
    from sb3_dqn_paper.tools.campaign.status import RunStatus, _eta, campaign_status

    config = make_config(["CartPole-v1"], [0, 1], 2_500_000, [1_000_000, 2_500_000])
    assert [status.stop for status in campaign_status(tmp_path, config)] == [1_000_000, 1_000_000]  # none started
    held = RunStatus(None, 2_500_000, 820_000, 40.0, None, None, "running", 1_000_000)  # type: ignore[arg-type]
    assert held.eta_seconds == 4_500.0 and _eta(held) == "1 h 15 min to 1,000,000"
    last = RunStatus(None, 2_500_000, 1_300_000, 40.0, None, None, "running", 2_500_000)  # type: ignore[arg-type]
    assert last.eta_seconds == 30_000.0 and _eta(last) == "8 h 20 min"
    unset = RunStatus(None, 2_500_000, 1_300_000, 40.0, None, None, "running")  # type: ignore[arg-type]
    assert unset.eta_seconds == 30_000.0


def test_the_summary_line_adds_up_the_runs() -> None:
    from sb3_dqn_paper.tools.campaign.status import RunStatus, campaign_summary

    def status(steps: int, target: int, speed: float | None, state: str) -> RunStatus:
        return RunStatus(None, target, steps, speed, None, None, state)  # type: ignore[arg-type]

    statuses = [status(600_000, 1_000_000, 40.0, "running"), status(400_000, 1_000_000, 35.0, "running")]
    statuses += [status(0, 1_000_000, None, "waiting"), status(1_200_000, 1_000_000, None, "done")]
    # 1,000,000 + 600,000 + 400,000 left (the done run's extra steps do not count), at 75 steps/s: 7 h 24 min
    assert campaign_summary(statuses) == (
        "all runs: 2,000,000 of 4,000,000 agent steps (50.0 %); at the running segments' 75.0 steps/s together, "
        "7 h 24 min of wall time left"
    )
    stopped = [status(600_000, 1_000_000, None, "stopped"), status(0, 1_000_000, None, "not started")]
    assert campaign_summary(stopped) == "all runs: 600,000 of 2,000,000 agent steps (30.0 %)"
    # a segment still loading its checkpoint has no speed yet: no sum that counts it as standing still
    loading = [status(600_000, 1_000_000, 40.0, "running"), status(400_000, 1_000_000, None, "running")]
    assert campaign_summary(loading) == (
        "all runs: 1,000,000 of 2,000,000 agent steps (50.0 %); 1 of 2 running segments not timed yet (starting), "
        "so no wall time left is given"
    )


def test_the_status_table_is_built_only_when_it_is_shown() -> None:
    from sb3_dqn_paper.tools.campaign.cli import PLAIN_STATUS_INTERVAL, StatusReport

    now = [0.0]
    built: list[float] = []
    shown: list[str] = []

    def build(scheduler: object) -> str:
        built.append(now[0])
        return f"table at {now[0]:g}"

    report = StatusReport(build, shown.append, interval=PLAIN_STATUS_INTERVAL, clock=lambda: now[0])
    for second in range(1_500):  # the scheduler's polls, one a second, for 25 minutes
        now[0] = float(second)
        report(None)  # type: ignore[arg-type]
    now[0] = 1_500.0
    report(None, force=True)  # type: ignore[arg-type]  # the table at the end of a run
    assert built == [0.0, 600.0, 1_200.0, 1_500.0]
    assert shown == ["table at 0", "table at 600", "table at 1200", "table at 1500"]

    every_call = StatusReport(build, shown.append, interval=0.0, clock=lambda: now[0])  # a terminal's live table
    built.clear()
    for _ in range(3):
        every_call(None)  # type: ignore[arg-type]
    assert built == [1_500.0] * 3
