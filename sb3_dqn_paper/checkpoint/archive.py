"""
The checkpoint file: its zip layout, writing it, reading its summary, and CRC verification (including the
streaming reader of an uncompressed replay-buffer entry).
"""

import datetime
import io
import json
import os
import pathlib
import pickle
import struct
import zipfile
import zlib
from typing import Any

import torch as th

from sb3_dqn_paper.atomic_io import atomic_write, with_default_suffix
from sb3_dqn_paper.checkpoint.env_state import _type_name, get_env_state
from sb3_dqn_paper.checkpoint.random_state import get_rng_state
from sb3_dqn_paper.errors import (
    CheckpointError,
    DamagedCheckpointError,
)
from sb3_dqn_paper.file_checks import open_zip
from sb3_dqn_paper.memory_check import check_memory_available
from sb3_dqn_paper.paper_dqn import PaperDQN
from sb3_dqn_paper.version import __version__

#: Value of ``meta.json``'s ``format`` key.
CHECKPOINT_FORMAT = "sb3-dqn-paper-checkpoint"


#: Version of the layout below; a reader refuses newer versions.
CHECKPOINT_VERSION = 1


META_ENTRY = "checkpoint/meta.json"


RNG_ENTRY = "checkpoint/rng.pkl"


ENV_ENTRY = "checkpoint/env_state.pkl"


REPLAY_BUFFER_ENTRY = "checkpoint/replay_buffer.pkl"


def save_checkpoint(
    model: PaperDQN,
    path: str | os.PathLike,
    save_replay_buffer: bool = True,
    compress_replay_buffer: bool = False,
) -> pathlib.Path:
    """
    Write a checkpoint of ``model`` to ``path`` atomically (``.zip`` is appended if ``path`` has no suffix).

    Call it between two ``learn()`` calls, or from a callback at the start of a rollout
    (:class:`PaperCheckpointCallback` does), where the state is consistent.

    :param model: The model, with its training env
    :param path: Destination file
    :param save_replay_buffer: Whether to include the replay buffer (without it, a resume is not exact)
    :param compress_replay_buffer: Deflate the replay buffer (smaller, much slower for an Atari-sized buffer)
    :return: The path written
    :raises SaveError: if the file cannot be written (e.g. the disk is full); the previous file is untouched
    """
    path = with_default_suffix(path, "zip")
    model_file = io.BytesIO()
    model.save(model_file)
    env_state = get_env_state(model.env) if model.env is not None else None
    buffer = model.replay_buffer if save_replay_buffer else None
    meta = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "written_by": f"sb3-dqn-paper {__version__}",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "algorithm": type(model).__name__,
        "num_timesteps": int(model.num_timesteps),
        "total_timesteps": int(getattr(model, "_total_timesteps", 0)),
        "n_updates": int(model._n_updates),
        "episodes": int(model._episode_num),
        "exploration_rate": float(model.exploration_rate),
        "n_envs": int(model.n_envs),
        "observation_space": repr(model.observation_space),
        "action_space": repr(model.action_space),
        "device": str(model.device),
        "torch": th.__version__,
        "env_layers": None if env_state is None else env_state["layers"],
        "env_state": None if env_state is None else (env_state["reason"] or "saved"),
        "env_attributes_not_saved": [] if env_state is None else env_state["skipped"],
        "replay_buffer": None if buffer is None else _type_name(buffer),
        "replay_buffer_transitions": None if buffer is None else int(buffer.size()) * int(buffer.n_envs),
        # memory that unpickling takes beyond the entry's size (compressed frames: one bytes object each)
        "replay_buffer_load_overhead_bytes": int(getattr(buffer, "unpickle_overhead_bytes", lambda: 0)()),
    }
    rng_state = get_rng_state(model)
    with atomic_write(path) as file:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            model_file.seek(0)
            with zipfile.ZipFile(model_file) as model_archive:
                for info in model_archive.infolist():
                    archive.writestr(info, model_archive.read(info))
            archive.writestr(META_ENTRY, json.dumps(meta, indent=2))
            archive.writestr(RNG_ENTRY, pickle.dumps(rng_state, protocol=pickle.HIGHEST_PROTOCOL))
            if env_state is not None:
                archive.writestr(ENV_ENTRY, pickle.dumps(env_state, protocol=pickle.HIGHEST_PROTOCOL))
            if buffer is not None:
                compression = zipfile.ZIP_DEFLATED if compress_replay_buffer else zipfile.ZIP_STORED
                info = zipfile.ZipInfo(REPLAY_BUFFER_ENTRY, date_time=datetime.datetime.now().timetuple()[:6])
                info.compress_type = compression
                with archive.open(info, "w", force_zip64=True) as entry:
                    pickle.dump(buffer, entry, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """
    The summary stored in a checkpoint, after checking that the file is a readable checkpoint of a known version.

    :param path: Checkpoint file
    :return: The ``meta.json`` dict
    :raises CheckpointError: naming what is wrong with the file
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    damaged = f"{path} is damaged or truncated and cannot be read as a checkpoint"
    with open_zip(path, DamagedCheckpointError, damaged) as archive:
        names = set(archive.namelist())
        if META_ENTRY not in names:
            hint = (
                "it looks like a model saved with PaperDQN.save, which PaperDQN.load loads"
                if {"data", "policy.pth"} <= names
                else "it is damaged or truncated, or another kind of file"
            )
            raise CheckpointError(f"{path} is not a checkpoint (it has no {META_ENTRY}): {hint}")
        meta = json.loads(archive.read(META_ENTRY))
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an sb3-dqn-paper checkpoint (its meta.json has no format {CHECKPOINT_FORMAT!r})")
    if not isinstance(meta.get("version"), int) or meta["version"] > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {meta.get('version')!r}; this sb3-dqn-paper reads versions up to "
            f"{CHECKPOINT_VERSION}. Upgrade sb3-dqn-paper to load it."
        )
    missing = {RNG_ENTRY, "data", "policy.pth"} - names
    if meta.get("replay_buffer") is not None:
        missing |= {REPLAY_BUFFER_ENTRY} - names
    if missing:
        raise DamagedCheckpointError(f"{path} is an incomplete checkpoint: it lacks {sorted(missing)}")
    return meta


def is_checkpoint(path: str | os.PathLike) -> bool:
    """
    Whether ``path`` is a readable checkpoint (as opposed to a plain model file or anything else).

    :param path: File to test
    :return: ``True`` if :func:`read_checkpoint_meta` accepts it
    """
    try:
        read_checkpoint_meta(path)
    except CheckpointError:
        return False
    return True


def verify_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """
    Check a checkpoint completely: its summary (:func:`read_checkpoint_meta`) and the CRC-32 of every entry, so that
    one changed byte anywhere (weights, optimizer, replay buffer, random or env state) is found. This reads the
    whole file (for a 7 GB replay buffer, in the order of the time a load takes).

    :param path: Checkpoint file
    :return: The ``meta.json`` dict
    :raises DamagedCheckpointError: naming the damaged entry
    :raises CheckpointError: for a file that is not a checkpoint, or of a newer format
    """
    meta = read_checkpoint_meta(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as error:  # a damaged entry header or compressed stream
        raise DamagedCheckpointError(f"{path} is damaged: {error!r}") from error
    if bad is not None:
        raise DamagedCheckpointError(f"{path}: entry {bad} is damaged (CRC mismatch)")
    return meta


class _StoredEntryReader(io.RawIOBase):
    """
    The bytes of one uncompressed zip entry, read straight from the file, with the CRC checked at the end.

    ``zipfile`` serves ``readinto`` through ``read``, which copies: unpickling a 7 GB replay buffer from it
    would need 14 GB. Reading the stored bytes directly lets pickle fill the arrays in place.

    :param file: The checkpoint file, open for binary reading
    :param info: The entry (stored, not compressed)
    """

    def __init__(self, file: Any, info: zipfile.ZipInfo) -> None:
        super().__init__()
        file.seek(info.header_offset)
        header = file.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {info.filename}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        file.seek(info.header_offset + 30 + name_length + extra_length)
        self.file, self.remaining, self.expected_crc, self.crc = file, info.file_size, info.CRC, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self.remaining]
        count = self.file.readinto(view) if len(view) else 0
        if len(view) and not count:
            raise EOFError("the checkpoint file ends inside its replay buffer")
        self.crc = zlib.crc32(view[:count], self.crc)
        self.remaining -= count
        if self.remaining == 0 and self.crc != self.expected_crc:
            raise zipfile.BadZipFile("Bad CRC-32 of the replay buffer: its bytes are damaged")
        return count


def _read_replay_buffer(path: pathlib.Path, overhead: int = 0) -> Any:
    """Unpickle the replay buffer entry, after checking that there is memory for it (its size plus ``overhead``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(REPLAY_BUFFER_ENTRY)
        stored = info.compress_type == zipfile.ZIP_STORED
        # Through zipfile's decompressor the bytes exist twice while an array is being filled
        _check_memory_for(info.file_size * (1 if stored else 2) + overhead, f"the replay buffer in {path}")
        with open(path, "rb") as file:
            if stored:
                with io.BufferedReader(_StoredEntryReader(file, info), buffer_size=1 << 20) as entry:
                    buffer = pickle.load(entry)
                    entry.read()  # to the end of the entry, where the CRC is checked
            else:
                with zipfile.ZipFile(file) as archive, archive.open(REPLAY_BUFFER_ENTRY) as entry:
                    buffer = pickle.load(entry)
                    entry.read()  # to the end of the entry, where zipfile checks the CRC
    except CheckpointError:
        raise
    except Exception as error:  # MemoryError included: a damaged pickle can claim an absurd size
        raise DamagedCheckpointError(f"the replay buffer in {path} is damaged: {error!r}") from error
    return buffer


def _check_memory_for(n_bytes: int, what: str) -> None:
    """Refuse to load ``what`` when its ``n_bytes`` exceed the memory available (:mod:`sb3_dqn_paper.memory_check`)."""
    check_memory_available(n_bytes, f"loading {what}", CheckpointError)
