"""
Faults and bad input around checkpoints: each gets the project's own error with a message naming the problem,
and nothing already on disk is lost.
"""

import builtins
import errno
import io
import json
import os
import pathlib
import pickle
import signal
import zipfile
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from checkpoint_worker import make_env, make_model
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_dqn_paper import atomic_io
from sb3_dqn_paper.atomic_io import TEMP_MARKER
from sb3_dqn_paper.checkpoint import (
    META_ENTRY,
    REPLAY_BUFFER_ENTRY,
    PaperCheckpointCallback,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    resume_learning,
    save_checkpoint,
)
from sb3_dqn_paper.errors import CheckpointError, InvalidReplayBufferError, NonFiniteLossError, SaveError
from sb3_dqn_paper.paper_dqn import PaperDQN
from sb3_dqn_paper.tools.checkpoint import main as checkpoint_main


def random_state_python() -> Any:
    """Python's random state, as a checkpoint stores it."""
    import random

    return random.getstate()


@pytest.fixture(autouse=True)
def one_thread() -> None:
    th.set_num_threads(1)


@pytest.fixture
def trained(tmp_path: pathlib.Path) -> tuple[PaperDQN, pathlib.Path]:
    """A CartPole model after 120 steps and its checkpoint."""
    model = make_model("cartpole", make_env("cartpole", seed=0))
    model.learn(120)
    return model, save_checkpoint(model, tmp_path / "good.zip")


def temp_files(folder: pathlib.Path) -> list[pathlib.Path]:
    return [path for path in folder.iterdir() if TEMP_MARKER in path.name]


def data_offset(path: pathlib.Path, entry: str) -> tuple[int, int]:
    """Offset and length of an entry's (stored) bytes in a zip file."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(entry)
    with open(path, "rb") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(file.read(4), dtype="<u2")
    return info.header_offset + 30 + int(name_length) + int(extra_length), info.compress_size


# --- damaged files -------------------------------------------------------------------------------------------------


def test_truncated_checkpoint_is_refused_and_the_previous_one_still_loads(trained: Any, tmp_path: pathlib.Path) -> None:
    model, _ = trained
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    older = save_checkpoint(model, folder / "paper_dqn_120_steps.zip")
    model.learn(30, reset_num_timesteps=False)
    newer = save_checkpoint(model, folder / "paper_dqn_150_steps.zip")
    newer.write_bytes(newer.read_bytes()[: newer.stat().st_size // 2])  # as if cut off by a crash without atomic writes

    with pytest.raises(CheckpointError, match=r"paper_dqn_150_steps.zip is .*damaged or truncated"):
        load_checkpoint(newer, make_env("cartpole", seed=0))
    with pytest.warns(UserWarning, match="skipping a checkpoint that cannot be used"):
        restored = load_checkpoint(folder, make_env("cartpole", seed=0))  # the folder: newest usable one
    assert restored.num_timesteps == 120
    assert older.exists() and newer.exists()  # nothing deleted by the failed load


@pytest.mark.parametrize("compress", [False, True], ids=["stored", "deflated"])
def test_corrupted_replay_buffer_is_detected(trained: Any, compress: bool) -> None:
    model, good = trained
    save_checkpoint(model, good, compress_replay_buffer=compress)
    start, length = data_offset(good, REPLAY_BUFFER_ENTRY)
    data = bytearray(good.read_bytes())
    data[start + length // 2] ^= 0xFF  # inside the arrays, which would unpickle without complaint
    good.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"replay buffer .* is damaged"):
        load_checkpoint(good, make_env("cartpole", seed=0))


def test_inspector_verifies_every_entry(trained: Any, capsys: pytest.CaptureFixture) -> None:
    _, good = trained
    assert checkpoint_main([str(good)]) == 0
    assert '"num_timesteps": 120' in capsys.readouterr().out
    start, length = data_offset(good, REPLAY_BUFFER_ENTRY)
    data = bytearray(good.read_bytes())
    data[start + length - 1] ^= 0x01
    good.write_bytes(bytes(data))
    assert checkpoint_main([str(good)]) == 1
    assert f"BAD {good}: entry {REPLAY_BUFFER_ENTRY} is damaged" in capsys.readouterr().out


def test_checkpoint_of_a_newer_format_is_refused(trained: Any, tmp_path: pathlib.Path) -> None:
    _, good = trained
    future = tmp_path / "future.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(future, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == META_ENTRY:
                content = json.dumps({**json.loads(content), "version": 99}).encode()
            target.writestr(info, content)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(future, make_env("cartpole", seed=0))


def test_plain_model_file_is_not_a_checkpoint(trained: Any, tmp_path: pathlib.Path) -> None:
    model, _ = trained
    model.save(tmp_path / "model.zip")
    with pytest.raises(CheckpointError, match=r"is not a checkpoint .*a model saved with PaperDQN.save"):
        load_checkpoint(tmp_path / "model.zip", make_env("cartpole", seed=0))
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.zip")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        load_checkpoint(tmp_path)  # a folder without checkpoints


def test_checkpoint_is_also_a_model_file(trained: Any) -> None:
    model, good = trained
    loaded = PaperDQN.load(good)
    obs = np.zeros((1, 4), dtype=np.float32)
    assert th.equal(loaded.q_net(th.as_tensor(obs)), model.q_net(th.as_tensor(obs)))


# --- resume falls back past a checkpoint that fails verification --------------------------------------------------


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
    start, length = data_offset(path, entry)
    data = bytearray(path.read_bytes())
    data[start + length // 2] ^= 0x10
    path.write_bytes(bytes(data))


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


# --- another env ---------------------------------------------------------------------------------------------------


def test_checkpoint_from_another_env_is_refused(trained: Any) -> None:
    _, good = trained
    with pytest.raises(CheckpointError, match=r"saved for another env: the env given has observation space Box\(.*\(6,\)"):
        load_checkpoint(good, make_vec_env("Acrobot-v1", n_envs=1, seed=0))


def test_checkpoint_with_another_number_of_envs_is_refused(trained: Any) -> None:
    _, good = trained
    with pytest.raises(CheckpointError, match="saved with 1 envs but the env given has 2"):
        load_checkpoint(good, make_env("cartpole2", seed=0))
    model = load_checkpoint(good, make_env("cartpole2", seed=0), load_replay_buffer=False, restore_env_state=False)
    assert model.num_timesteps == 120 and model.n_envs == 2


def test_env_built_differently_is_refused_unless_its_state_is_not_restored(trained: Any) -> None:
    _, good = trained
    without_monitor = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(CheckpointError, match=r"not built like the checkpoint's: layer 1 is .*TimeLimit but was .*Monitor"):
        load_checkpoint(good, without_monitor)
    model = load_checkpoint(good, without_monitor, restore_env_state=False)
    assert model._last_obs is None  # learn() starts new episodes
    model.learn(10, reset_num_timesteps=False)  # resets the env and trains on
    assert model.num_timesteps == 130


# --- replay buffer files -------------------------------------------------------------------------------------------


def test_replay_buffer_of_another_env_is_refused_and_the_current_one_kept(trained: Any, tmp_path: pathlib.Path) -> None:
    model, _ = trained
    model.save_replay_buffer(tmp_path / "cartpole_buffer")
    other = PaperDQN("MlpPolicy", make_vec_env("Acrobot-v1", n_envs=1, seed=0), buffer_size=400, learning_starts=10)
    current = other.replay_buffer
    with pytest.raises(InvalidReplayBufferError, match=r"does not fit this model: its observation shape is \(4,\), .* \(6,\)"):
        other.load_replay_buffer(tmp_path / "cartpole_buffer.pkl")
    assert other.replay_buffer is current


def test_replay_buffer_of_another_number_of_envs_is_refused(trained: Any, tmp_path: pathlib.Path) -> None:
    model, _ = trained
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    two_envs = make_model("cartpole2", make_env("cartpole2", seed=0))
    with pytest.raises(InvalidReplayBufferError, match="its number of envs is 1, the model's is 2"):
        two_envs.load_replay_buffer(tmp_path / "buffer.pkl")


def test_replay_buffer_file_that_is_not_a_buffer_is_refused(trained: Any, tmp_path: pathlib.Path) -> None:
    model, _ = trained
    (tmp_path / "garbage.pkl").write_bytes(os.urandom(1000))
    with pytest.raises(InvalidReplayBufferError, match="could not be loaded as a replay buffer"):
        model.load_replay_buffer(tmp_path / "garbage.pkl")
    with open(tmp_path / "dict.pkl", "wb") as file:
        pickle.dump({"observations": np.zeros(3)}, file)
    with pytest.raises(InvalidReplayBufferError, match=r"dict.pkl could not be loaded .*must inherit from ReplayBuffer"):
        model.load_replay_buffer(tmp_path / "dict.pkl")


@pytest.mark.filterwarnings("ignore:This system does not have apparently enough memory")
def test_loading_a_checkpoint_checks_memory_for_its_replay_buffer(trained: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    psutil = pytest.importorskip("psutil")  # the memory check needs it, as SB3's own buffer check does
    _, good = trained

    class Tiny:
        available = 1000

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Tiny())
    with pytest.raises(
        CheckpointError, match=r"loading the replay buffer in .* needs [\d,]+ bytes \(0.00 GiB\) of memory, but only"
    ):
        load_checkpoint(good, make_env("cartpole", seed=0))


# --- writes that fail ----------------------------------------------------------------------------------------------


class DiskFullAfter(io.BufferedWriter):
    """A file whose writes fail with ENOSPC once ``limit`` bytes have been written."""

    def __init__(self, raw: io.RawIOBase, limit: int) -> None:
        super().__init__(raw)
        self.limit, self.written = limit, 0

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if self.written + size > self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += size
        return super().write(data)


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    def failing_open(file: Any, mode: str = "r", **kwargs: Any) -> DiskFullAfter:
        return DiskFullAfter(builtins.open(file, mode, buffering=0), limit)

    monkeypatch.setattr(atomic_io, "open", failing_open, raising=False)


WRITERS = {
    "checkpoint": lambda model, path: save_checkpoint(model, path),
    "model": lambda model, path: model.save(path),
    "replay buffer": lambda model, path: model.save_replay_buffer(path),
}


@pytest.mark.parametrize("writer", WRITERS)
def test_full_disk_during_a_save_keeps_the_previous_file(
    trained: Any, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    model, _ = trained
    path = tmp_path / "saves" / "file.zip"
    WRITERS[writer](model, path)
    before = path.read_bytes()
    model.learn(20, reset_num_timesteps=False)
    fill_disk_after(monkeypatch, limit=len(before) // 3)
    with pytest.raises(SaveError, match=r"No space left on device. The previous file at that path .* is untouched") as error:
        WRITERS[writer](model, path)
    assert error.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert temp_files(path.parent) == []


def test_failing_fsync_keeps_the_previous_checkpoint(trained: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model, good = trained
    before = good.read_bytes()

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic_io.os, "fsync", failing_fsync)
    with pytest.raises(SaveError, match=r"could not write .*Input/output error"):
        save_checkpoint(model, good)
    monkeypatch.undo()
    assert good.read_bytes() == before and temp_files(good.parent) == []
    assert load_checkpoint(good, make_env("cartpole", seed=0)).num_timesteps == 120


def test_full_disk_during_a_periodic_checkpoint_stops_training_and_keeps_the_others(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model("cartpole", make_env("cartpole", seed=0))
    callback = PaperCheckpointCallback(50, tmp_path, keep_last=2)
    model.learn(100, callback=callback)
    kept = {path.name: path.read_bytes() for path in list_checkpoints(tmp_path)}
    assert sorted(kept) == ["paper_dqn_100_steps.zip", "paper_dqn_50_steps.zip"]
    fill_disk_after(monkeypatch, limit=10_000)
    with pytest.raises(SaveError, match="No space left on device"):
        model.learn(100, callback=callback, reset_num_timesteps=False)
    assert {path.name: path.read_bytes() for path in list_checkpoints(tmp_path)} == kept
    assert temp_files(tmp_path) == []


# --- failures during training --------------------------------------------------------------------------------------


def test_non_finite_loss_stops_before_the_weights_change(trained: Any, tmp_path: pathlib.Path) -> None:
    model, _ = trained
    callback = PaperCheckpointCallback(10, tmp_path / "run", keep_last=None)
    model.learn(20, callback=callback, reset_num_timesteps=False)
    saved = list_checkpoints(tmp_path / "run")
    weights = {name: tensor.clone() for name, tensor in model.policy.state_dict().items()}
    optimizer_state = {key: {k: v.clone() for k, v in state.items()} for key, state in model.policy.optimizer.state.items()}
    model.replay_buffer.rewards[:] = np.nan  # a reward that poisons every TD target

    with pytest.raises(
        NonFiniteLossError, match=rf"loss became nan at update {model._n_updates + 1}\b.*weights were not updated"
    ) as error:
        model.learn(20, callback=callback, reset_num_timesteps=False)
    # the advice fits the cause: the rewards, not the learning rate
    assert "non-finite rewards: check the env's rewards" in str(error.value)
    assert "Lower the learning rate" not in str(error.value)
    for name, tensor in model.policy.state_dict().items():
        assert th.equal(tensor, weights[name])
    for key, state in model.policy.optimizer.state.items():
        assert all(th.equal(value, optimizer_state[key][name]) for name, value in state.items())
    # The failed learn() wrote its checkpoint before the update that failed; all of them still load
    assert set(saved) <= set(list_checkpoints(tmp_path / "run"))
    for path in list_checkpoints(tmp_path / "run"):
        assert load_checkpoint(path, make_env("cartpole", seed=0)).num_timesteps == int(path.name.split("_")[-2])


class CrashingEnv(gym.Wrapper):
    """Raises in ``step`` at the total step ``CrashingEnv.crash_at`` (an emulator or simulator failure)."""

    crash_at: int | None = None  # a class attribute: the failure comes from outside the env's state

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        if self.steps == CrashingEnv.crash_at:
            raise RuntimeError(f"simulator crashed at its step {self.steps}")
        return super().step(action)


def test_env_crash_propagates_and_the_last_checkpoint_resumes(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(CrashingEnv, "crash_at", 130)
    model = make_model("cartpole", make_vec_env("CartPole-v1", n_envs=1, seed=0, wrapper_class=CrashingEnv))
    callback = PaperCheckpointCallback(50, tmp_path, keep_last=2)
    with pytest.raises(RuntimeError, match="simulator crashed at its step 130"):
        model.learn(300, callback=callback)
    assert [path.name for path in list_checkpoints(tmp_path)] == ["paper_dqn_50_steps.zip", "paper_dqn_100_steps.zip"]

    # learn() died without on_training_end: the callback's handler is still installed, but outside learn() a
    # signal acts as without it (here Ctrl-C raises KeyboardInterrupt) and the previous handler comes back
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert not isinstance(getattr(signal.getsignal(signal.SIGINT), "__self__", None), PaperCheckpointCallback)

    monkeypatch.setattr(CrashingEnv, "crash_at", None)  # the simulator is fixed
    resumed = load_checkpoint(tmp_path, make_vec_env("CartPole-v1", n_envs=1, seed=5, wrapper_class=CrashingEnv))
    assert resumed.num_timesteps == 100 and resumed._total_timesteps == 300
    assert resumed.get_env().envs[0].get_wrapper_attr("steps") == 100  # the episode in progress goes on
    resume_learning(resumed)
    assert resumed.num_timesteps == 300


@pytest.mark.parametrize(
    "rng_state",
    [
        ["not", "a", "dict"],
        {"python": "x", "numpy": None, "torch": None, "action_space": None},
        {"python": random_state_python(), "numpy": ("MT19937", [1, 2]), "torch": None, "action_space": None},
        {"python": random_state_python(), "numpy": np.random.get_state(), "torch": "bytes", "action_space": None},
        {"python": random_state_python(), "numpy": np.random.get_state(), "torch": th.get_rng_state(), "action_space": 7},
    ],
    ids=["list", "python", "numpy", "torch", "action_space"],
)
def test_random_states_of_the_wrong_type_are_a_checkpoint_error(trained: Any, tmp_path: pathlib.Path, rng_state: Any) -> None:
    """A crafted rng.pkl is refused with CheckpointError before any random state of the process changes."""
    from sb3_dqn_paper.checkpoint import RNG_ENTRY

    _, good = trained
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(crafted, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = pickle.dumps(rng_state) if info.filename == RNG_ENTRY else source.read(info)
            target.writestr(info, data)
    numpy_before, torch_before = np.random.get_state()[1].copy(), th.get_rng_state().clone()
    with pytest.raises(CheckpointError, match=r"crafted\.zip \(checkpoint/rng\.pkl\): the (saved \w+ )?random state"):
        load_checkpoint(crafted, make_env("cartpole", seed=0))
    assert np.array_equal(np.random.get_state()[1], numpy_before) and th.equal(th.get_rng_state(), torch_before)
