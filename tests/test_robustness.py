"""
Faults and bad input found by trying the package as a new user would (issue 11, "nothing lost, round two").

Each test reproduces one numbered case of the issue; each failed before the fix.
"""

import builtins
import errno
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from checkpoint_worker import make_env, make_model
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack
from zoo_cli import require_installed_hook, run_python

from sb3_dqn_paper import PaperDQN, atomic_io, make_paper_atari_env
from sb3_dqn_paper.atomic_io import TEMP_MARKER, atomic_write, remove_stale_temporary_files
from sb3_dqn_paper.checkpoint import PaperCheckpointCallback, latest_checkpoint, load_checkpoint, save_checkpoint
from sb3_dqn_paper.tools.checkpoint import main as checkpoint_main
from sb3_dqn_paper.errors import (
    CheckpointError,
    InvalidArgumentError,
    PaperDQNError,
    SaveError,
    UnknownEnvironmentError,
    UnsupportedObservationError,
)
from sb3_dqn_paper.tools.common import write_json
from sb3_dqn_paper.tools.evaluate import RESULT_FORMAT_VERSION, RESULT_KIND
from sb3_dqn_paper.tools.evaluate import main as evaluate_main
from sb3_dqn_paper.tools.record import main as record_main
from sb3_dqn_paper.tools.record import write_gif
from sb3_dqn_paper.tools.report import main as report_main
from sb3_dqn_paper.tools.report import write_report

# --- 1. resume falls back past a checkpoint that fails verification ------------------------------------------------


@pytest.fixture
def two_checkpoints(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A folder with paper_dqn_100_steps.zip and paper_dqn_200_steps.zip of one CartPole run."""
    model = make_model("cartpole", make_env("cartpole", seed=0))
    model.learn(100)
    older = save_checkpoint(model, tmp_path / "paper_dqn_100_steps.zip")
    model.learn(100, reset_num_timesteps=False)
    newer = save_checkpoint(model, tmp_path / "paper_dqn_200_steps.zip")
    return older, newer


def flip_byte_inside(path: pathlib.Path, entry: str) -> None:
    """Change one byte in the middle of ``entry``'s stored data, as a bad disk sector or a bit flip would."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(entry)
    with open(path, "r+b") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(file.read(4), dtype="<u2")
        offset = info.header_offset + 30 + int(name_length) + int(extra_length) + info.compress_size // 2
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0x10]))


@pytest.mark.parametrize("entry", ["checkpoint/replay_buffer.pkl", "policy.pth"])
def test_resume_falls_back_past_a_checkpoint_with_a_flipped_byte(
    two_checkpoints: tuple[pathlib.Path, pathlib.Path], entry: str, capsys: pytest.CaptureFixture
) -> None:
    older, newer = two_checkpoints
    flip_byte_inside(newer, entry)
    with pytest.warns(UserWarning, match=rf"skipping a damaged checkpoint.*{newer.name}"):
        model = load_checkpoint(older.parent, env=make_env("cartpole", seed=0))
    assert model.num_timesteps == 100
    # the damaged file itself is still refused by name
    with pytest.raises(CheckpointError, match=newer.name):
        load_checkpoint(newer, env=make_env("cartpole", seed=0))
    # --latest never prints a file that does not verify, and says on stderr which one it skipped
    assert checkpoint_main(["--latest", str(older.parent)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(older)
    assert newer.name in err and "CRC" in err
    with pytest.warns(UserWarning, match=rf"{newer.name}: entry {entry} is damaged \(CRC mismatch\)"):
        assert latest_checkpoint(older.parent, verify=True) == older


def test_latest_prints_nothing_when_no_checkpoint_verifies(
    two_checkpoints: tuple[pathlib.Path, pathlib.Path], capsys: pytest.CaptureFixture
) -> None:
    for path in two_checkpoints:
        flip_byte_inside(path, "checkpoint/replay_buffer.pkl")
    assert checkpoint_main(["--latest", str(two_checkpoints[0].parent)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "no usable checkpoint" in err
    with pytest.warns(UserWarning, match="skipping a damaged checkpoint"), pytest.raises(CheckpointError, match="no usable"):
        load_checkpoint(two_checkpoints[0].parent, env=make_env("cartpole", seed=0))


def test_fallback_does_not_hide_a_sound_checkpoint_that_does_not_fit(two_checkpoints: tuple[pathlib.Path, ...]) -> None:
    # another env: every checkpoint would fail the same way, so the newest one's error is raised, not skipped
    with pytest.raises(CheckpointError, match=r"paper_dqn_200_steps\.zip was saved for another env"):
        load_checkpoint(two_checkpoints[0].parent, env=DummyVecEnv([lambda: gym.make("Acrobot-v1")]))


# --- 2. zero or non-finite learning rates, whatever their form -----------------------------------------------------


@pytest.mark.parametrize(
    "learning_rate",
    [0, 0.0, -1e-4, float("nan"), float("inf"), np.float32(0.0), ConstantSchedule(0.0), LinearSchedule(0.0, 0.0, 1.0)],
    ids=["int0", "float0", "negative", "nan", "inf", "np0", "ConstantSchedule0", "LinearSchedule0"],
)
def test_learning_rate_that_learns_nothing_is_refused(learning_rate: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="learning_rate"):
        PaperDQN("MlpPolicy", "CartPole-v1", learning_rate=learning_rate)


def test_learning_rate_schedules_that_learn_are_accepted() -> None:
    # decaying to 0 at the end of training is a common schedule and learns until then
    for learning_rate in (lambda progress: 1e-3 * progress, LinearSchedule(1e-3, 0.0, 1.0), ConstantSchedule(1e-4)):
        PaperDQN("MlpPolicy", "CartPole-v1", learning_rate=learning_rate, buffer_size=100)
    with pytest.raises(InvalidArgumentError, match=r"gives nan at progress_remaining=0\.5"):
        PaperDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda p: 1e-3 if p != 0.5 else float("nan"))


def test_a_schedule_that_turns_nan_between_the_checked_points_stops_before_the_step() -> None:
    """The issue's reproduction: nan for 0.55 < progress < 0.65 passes the checks at 1, .75, .5, .25, 0."""

    def schedule(progress: float) -> float:
        return float("nan") if 0.55 < progress < 0.65 else 1e-3

    model = PaperDQN("MlpPolicy", "CartPole-v1", learning_starts=100, learning_rate=schedule, seed=0, device="cpu")
    with pytest.raises(InvalidArgumentError, match=r"gives nan at progress_remaining=0\.6.*stopped before the optimizer"):
        model.learn(1500)
    # progress_remaining = 1 - steps / 1500 falls below 0.65 after step 525: the update of step 526 is refused, after
    # the 425 updates of steps 101 to 525, and every weight is finite
    assert model.num_timesteps == 526 and model._n_updates == 425
    assert all(np.isfinite(parameter.detach().numpy()).all() for parameter in model.policy.parameters())
    assert all(group["lr"] == 1e-3 for group in model.policy.optimizer.param_groups)


def test_load_refuses_a_zero_learning_rate(tmp_path: pathlib.Path) -> None:
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100).save(tmp_path / "model.zip")
    with pytest.raises(InvalidArgumentError, match="learning_rate"):
        PaperDQN.load(tmp_path / "model.zip", learning_rate=0.0)
    # rl-zoo3's enjoy loads to predict only, replacing the saved schedule by 0: allowed
    model = PaperDQN.load(tmp_path / "model.zip", custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0})
    assert model.learning_rate == 0.0


@pytest.fixture(scope="module")
def zoo_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_installed_hook()
    return tmp_path_factory.mktemp("zoo")


@pytest.mark.slow
def test_zoo_learning_rate_zero_is_refused(zoo_workdir: Path) -> None:
    # rl-zoo3 turns a number into a ConstantSchedule before the model sees it
    result = run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-n", "200", "-f", "logs",
         "--hyperparams", "learning_rate:0"],
        cwd=zoo_workdir,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "InvalidArgumentError" in result.stderr and "learning_rate schedule" in result.stderr
    assert not list((zoo_workdir / "logs").glob("paper_dqn/*/CartPole-v1.zip"))


# --- 3. the documented resume command cannot silently start over ---------------------------------------------------


@pytest.mark.slow
def test_zoo_refuses_an_empty_trained_agent(zoo_workdir: Path) -> None:
    # what `-i "$(python -m sb3_dqn_paper.tools.checkpoint --latest no/such/folder)"` expands to
    latest = run_python(["-m", "sb3_dqn_paper.checkpoint", "--latest", "no/such/folder"], cwd=zoo_workdir, check=False)
    assert latest.returncode == 1 and latest.stdout == ""
    result = run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-n", "200", "-f", "logs_empty",
         "-i", latest.stdout.strip()],
        cwd=zoo_workdir,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "-i/--trained-agent was given an empty path" in result.stderr
    assert not (zoo_workdir / "logs_empty").exists() or not list((zoo_workdir / "logs_empty").rglob("*.zip"))


@pytest.mark.slow
def test_documented_shell_form_stops_before_training(tmp_path: Path) -> None:
    # the docs' job-script form: the substitution fails, so the script exits before rl-zoo3 runs
    script = textwrap.dedent(
        f"""
        set -e
        ckpt=$("{sys.executable}" -m sb3_dqn_paper.checkpoint --latest no/such/folder)
        echo "TRAINING WOULD START FROM $ckpt"
        """
    )
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "TRAINING WOULD START" not in result.stdout


# --- 4. a SIGKILL during a save leaves a temporary file: the next save or load removes it -------------------------

KILLED_WRITER = """
import sys, time
from sb3_dqn_paper.atomic_io import atomic_write
with atomic_write(sys.argv[1]) as file:
    file.write(b"x" * 100_000)
    file.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def killed_save(folder: pathlib.Path, name: str) -> pathlib.Path:
    """Start a save of ``folder/name`` in another process and SIGKILL it midway; return the temporary file left."""
    process = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(folder / name)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    (left,) = [path for path in folder.iterdir() if TEMP_MARKER in path.name]
    assert left.stat().st_size == 100_000
    return left


def test_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path: pathlib.Path) -> None:
    model = make_model("cartpole", make_env("cartpole", seed=0))
    left = killed_save(tmp_path, "paper_dqn_100_steps.zip")
    callback = PaperCheckpointCallback(save_freq=50, save_path=tmp_path)
    with pytest.warns(UserWarning, match=rf"removed .*{left.name}.*100,000 bytes.*interrupted"):
        model.learn(60, callback=callback)
    assert not left.exists()
    assert not [path for path in tmp_path.iterdir() if TEMP_MARKER in path.name]


def test_temporary_file_of_a_killed_save_is_removed_by_the_next_load(tmp_path: pathlib.Path) -> None:
    model = make_model("cartpole", make_env("cartpole", seed=0))
    model.learn(60)
    save_checkpoint(model, tmp_path / "paper_dqn_60_steps.zip")
    left = killed_save(tmp_path, "paper_dqn_120_steps.zip")
    with pytest.warns(UserWarning, match="removed"):
        loaded = load_checkpoint(tmp_path, env=make_env("cartpole", seed=0))
    assert loaded.num_timesteps == 60 and not left.exists()


def test_a_save_in_progress_is_not_removed(tmp_path: pathlib.Path) -> None:
    with atomic_write(tmp_path / "big.zip") as file:
        file.write(b"y" * 1000)
        (in_progress,) = [path for path in tmp_path.iterdir() if TEMP_MARKER in path.name]
        assert remove_stale_temporary_files(tmp_path) == []
        assert in_progress.exists()
    assert (tmp_path / "big.zip").read_bytes() == b"y" * 1000


def test_saves_work_where_the_file_system_has_no_locks(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(atomic_io.fcntl, "flock", no_locks)
    with atomic_write(tmp_path / "model.zip") as file:
        file.write(b"z" * 10)
        (unlocked,) = [path for path in tmp_path.iterdir() if TEMP_MARKER in path.name]
        assert remove_stale_temporary_files(tmp_path) == []  # cannot tell whether its writer lives: kept
    assert (tmp_path / "model.zip").read_bytes() == b"z" * 10 and not unlocked.exists()


# --- 5. one error family -------------------------------------------------------------------------------------------

REFUSALS = {
    "PaperDQN buffer_size=0": lambda: PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=0),
    "PaperDQN unknown env id": lambda: PaperDQN("MlpPolicy", "NoSuchEnv-v0"),
    "PaperDQN Box action space": lambda: PaperDQN("MlpPolicy", "Pendulum-v1"),
    "PaperDQN CnnPolicy on vectors": lambda: PaperDQN("CnnPolicy", "CartPole-v1"),
    "PaperDQN td_forward": lambda: PaperDQN("MlpPolicy", "CartPole-v1", td_forward="x"),
    "make_paper_atari_env unknown id": lambda: make_paper_atari_env("NoSuchGameNoFrameskip-v4"),
    "make_paper_atari_env n_envs=0": lambda: make_paper_atari_env("PongNoFrameskip-v4", n_envs=0),
    "make_paper_atari_env v5 id": lambda: make_paper_atari_env("ALE/Pong-v5"),
    "PaperCheckpointCallback save_freq=0": lambda: PaperCheckpointCallback(save_freq=0, save_path="x"),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_every_refusal_is_a_paper_dqn_error_and_still_a_value_error(refusal: str) -> None:
    with pytest.raises(PaperDQNError) as error:
        REFUSALS[refusal]()
    assert isinstance(error.value, ValueError)  # `except ValueError` code written before keeps working


# --- 6. a full disk: evaluate, record and report leave no partial file and name the file ---------------------------


class DiskFullAfter(io.BufferedWriter):
    """A file whose writes fail with ENOSPC once ``limit`` bytes have been written in all."""

    written = 0

    def __init__(self, raw: io.RawIOBase, limit: int) -> None:
        super().__init__(raw)
        self.limit = limit

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if DiskFullAfter.written + size > self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        DiskFullAfter.written += size
        return super().write(data)


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    DiskFullAfter.written = 0
    monkeypatch.setattr(
        atomic_io,
        "open",
        lambda file, mode="r", **kw: DiskFullAfter(builtins.open(file, mode, buffering=0), limit),
        raising=False,
    )


def test_full_disk_evaluate_json(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_disk_after(monkeypatch, limit=10)
    with pytest.raises(SaveError, match=r"could not write .*result\.json.*No space left") as error:
        write_json({"a": "b" * 100}, str(tmp_path / "result.json"))
    assert error.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_full_disk_record_gif(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "play.gif").write_bytes(b"old gif")
    fill_disk_after(monkeypatch, limit=100)
    frames = [np.full((20, 20, 3), value, dtype=np.uint8) for value in (0, 128, 255)]
    with pytest.raises(SaveError, match=r"play\.gif"):
        write_gif(frames, str(tmp_path / "play.gif"), 50, overwrite=True)
    assert [path.name for path in tmp_path.iterdir()] == ["play.gif"]
    assert (tmp_path / "play.gif").read_bytes() == b"old gif"


def evaluation_file(path: pathlib.Path, env_id: str = "BreakoutNoFrameskip-v4", **drop: bool) -> pathlib.Path:
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


def test_full_disk_report_changes_no_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, out = tmp_path / "in", tmp_path / "report"
    inputs.mkdir()
    evaluation_file(inputs / "breakout.json")
    evaluation_file(inputs / "pong.json", env_id="PongNoFrameskip-v4")
    write_report([str(inputs)], str(out))
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert len(before) == 3 and all(before.values())
    evaluation_file(inputs / "breakout.json").write_text(
        (inputs / "breakout.json").read_text().replace('"mean": 10.0', '"mean": 12.0')
    )
    fill_disk_after(monkeypatch, limit=sum(map(len, before.values())) // 2)  # fails in the middle of the set
    with pytest.raises(SaveError, match=r"could not write .*report.*No space left.*No file of this set was changed"):
        write_report([str(inputs)], str(out))
    after = {path.name: path.read_bytes() for path in out.iterdir()}
    assert after == before  # no 0-byte PNG, no mix of old and new, no temporary file


# --- 7. clear errors instead of tracebacks -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cartpole_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("model") / "cartpole.zip"
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100).save(path)
    return str(path)


@pytest.mark.parametrize("tool", ["evaluate", "record"])
def test_negative_seed_is_a_usage_error(tool: str, cartpole_model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = evaluate_main if tool == "evaluate" else record_main
    extra = ["--out", str(tmp_path / "x.gif")] if tool == "record" else []
    with pytest.raises(SystemExit) as exit_status:
        main([cartpole_model, "--env", "CartPole-v1", "--seed", "-1", *extra])
    assert exit_status.value.code == 2
    assert "--seed: must be a whole number >= 0, got '-1'" in capsys.readouterr().err


@pytest.mark.parametrize("tool", ["evaluate", "record"])
def test_unknown_env_kwargs_are_named(tool: str, cartpole_model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    main = evaluate_main if tool == "evaluate" else record_main
    extra = ["--out", str(tmp_path / "x.gif")] if tool == "record" else []
    assert main([cartpole_model, "--env", "CartPole-v1", "--steps", "10", "--env-kwargs", "nonsense=1", *extra]) == 2
    err = capsys.readouterr().err
    assert "error: CartPole-v1 cannot be built with the env kwargs {'nonsense': 1}" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_report_on_an_evaluation_file_with_missing_fields(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = evaluation_file(tmp_path / "broken.json", unclipped=True, protocol=True)
    assert report_main([str(path), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "broken.json is an evaluation file with missing or damaged fields: no 'protocol'; no 'unclipped'" in err
    assert not (tmp_path / "report").exists()


def test_report_on_a_truncated_evaluation_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Named alone or found in a folder beside a good one, a truncated result file is an error, not skipped."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = evaluation_file(inputs / "breakout.json")
    truncated = evaluation_file(inputs / "pong.json", env_id="PongNoFrameskip-v4")
    truncated.write_text(truncated.read_text()[:150])
    (inputs / "other.json").write_text("{ not json, and no evaluation either")  # some other file: still skipped
    for given in ([str(truncated)], [str(inputs)], [str(good), str(truncated)]):
        assert report_main([*given, "--out", str(tmp_path / "report")]) == 2
        err = capsys.readouterr().err
        assert "pong.json is a damaged or truncated evaluation file (150 bytes)" in err and "Found no" not in err
    assert not (tmp_path / "report").exists()
    # a named JSON file that is not an evaluation result
    (inputs / "pong.json").unlink()
    assert report_main([str(inputs / "other.json"), "--out", str(tmp_path / "report")]) == 2
    assert "other.json is a damaged or truncated evaluation file" in capsys.readouterr().err
    assert report_main([str(inputs), "--out", str(tmp_path / "report")]) == 0


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: make_paper_atari_env("CartPole-v1"), UnknownEnvironmentError, "CartPole-v1 is not an Atari game"),
        (lambda: PaperDQN("MlpPolicy", "CartPole-v1", train_freq=0), InvalidArgumentError, "train_freq must be at least 1"),
        (
            lambda: PaperDQN("MlpPolicy", "CartPole-v1", train_freq=(4, "epoch")),
            InvalidArgumentError,
            "train_freq's unit must be 'step' or 'episode'",
        ),
        (
            lambda: PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch="abc")),
            InvalidArgumentError,
            r"net_arch'\] must be a list of positive layer sizes",
        ),
        (
            lambda: PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[64, 0])),
            InvalidArgumentError,
            "net_arch",
        ),
    ],
    ids=["atari-env-of-cartpole", "train_freq=0", "train_freq-unit", "net_arch=abc", "net_arch-zero"],
)
def test_clear_errors_instead_of_tracebacks(make: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


# --- 8. silent cases: now refused, or the paper's pipeline built ---------------------------------------------------


def test_frame_stack_along_the_wrong_axis_is_refused() -> None:
    def frames() -> gym.Env:
        return FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=True)  # (36, 36, 1): channel-last

    wrong = VecFrameStack(DummyVecEnv([frames]), n_stack=4, channels_order="first")
    assert wrong.observation_space.shape == (144, 36, 1)  # SB3 stacks along the height, without a word
    with pytest.raises(UnsupportedObservationError, match=r"channels_order='last'"):
        PaperDQN("CnnPolicy", wrong)
    right = VecFrameStack(DummyVecEnv([frames]), n_stack=4)
    assert PaperDQN("CnnPolicy", right, buffer_size=100).observation_space.shape == (4, 36, 36)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exploration_steps": float("nan")}, "exploration_steps must be a whole number"),
        ({"learning_starts": float("nan")}, "learning_starts must be a whole number"),
        ({"buffer_size": 2.5}, "buffer_size must be an integer"),
        ({"buffer_size": 1e3}, "buffer_size must be an integer"),  # SB3 would fail later, in np.zeros
        ({"gradient_steps": 0}, "gradient_steps must be -1 .* or at least 1, got 0: .* never learn"),
        ({"gradient_steps": -2}, "gradient_steps must be -1"),
    ],
)
def test_silently_useless_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        PaperDQN("MlpPolicy", "CartPole-v1", **kwargs)


def test_whole_floats_from_config_files_still_work() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=1000, exploration_steps=1e3, learning_starts=0.0)
    model.learn(20)
    assert model.num_timesteps == 20 and model._n_updates == 20


def test_atari_id_string_builds_the_paper_pipeline(capsys: pytest.CaptureFixture) -> None:
    model = PaperDQN("CnnPolicy", "PongNoFrameskip-v4", buffer_size=100, verbose=1)
    assert "building the paper's pipeline" in capsys.readouterr().out
    assert model.observation_space.shape == (4, 84, 84)  # not raw 210x160 RGB frames
    assert model.observation_space.dtype == np.uint8
    layer = model.env
    while not isinstance(layer, VecFrameStack):
        layer = layer.venv
    reference = make_paper_atari_env("PongNoFrameskip-v4")
    assert layer.observation_space == reference.observation_space  # (84, 84, 4) uint8, as make_paper_atari_env builds
    assert [type(env).__name__ for env in _gym_wrappers(layer.venv.envs[0])] == [
        type(env).__name__ for env in _gym_wrappers(reference.venv.envs[0])
    ]
    reference.close()
    model.env.close()


def _gym_wrappers(env: gym.Env) -> list[gym.Env]:
    layers = [env]
    while isinstance(env, gym.Wrapper):
        env = env.env
        layers.append(env)
    return layers
