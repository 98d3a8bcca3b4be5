"""
Atomic writes: a save killed by SIGKILL leaves a temporary file that the next save or load removes, a save in
progress is left alone, saves work on a file system without locks, and a full disk while ``evaluate``, ``record`` or
``report`` writes leaves no partial file and names the file. (Full disks during checkpoint, model and replay-buffer
saves: ``test_checkpoint_faults.py``.)
"""

import builtins
import errno
import io
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from checkpoint_worker import make_env, make_model
from test_report import evaluation_file

from sb3_dqn_paper import atomic_io
from sb3_dqn_paper.atomic_io import TEMP_MARKER, atomic_write, remove_stale_temporary_files
from sb3_dqn_paper.checkpoint import PaperCheckpointCallback, load_checkpoint, save_checkpoint
from sb3_dqn_paper.errors import SaveError
from sb3_dqn_paper.tools.common import write_json
from sb3_dqn_paper.tools.record import write_gif
from sb3_dqn_paper.tools.report import write_report

# --- a SIGKILL during a save leaves a temporary file: the next save or load removes it -----------------------------

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


# --- a full disk: evaluate, record and report leave no partial file and name the file ------------------------------


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
