"""
Training checkpoints of :class:`~sb3_dqn_paper.PaperDQN` from which a stopped run continues exactly.

SB3 saves the model (weights, optimizer state, counters) and, separately, the replay buffer; it does not save
the random number generators nor the environment, so a run resumed from an SB3 save is a different run. A
checkpoint here is **one zip file** that holds:

- everything ``PaperDQN.save`` writes, at the top level, so a checkpoint is also a model file that
  ``PaperDQN.load`` and rl-zoo3's ``-i`` accept: the weights, the optimizer state (the centred RMSProp
  accumulators), ``num_timesteps``, ``_n_updates``, ``_episode_num``, the exploration rate, the target-update
  counter, ``_last_obs``, ``_last_episode_starts``, ``_last_original_obs``, the episode-info buffer and the
  learning-rate progress;
- ``checkpoint/replay_buffer.pkl``: the replay buffer, pickled as SB3's ``save_replay_buffer`` does (so any
  :class:`~stable_baselines3.common.buffers.ReplayBuffer` subclass works, with whatever sampling RNG it holds);
- ``checkpoint/rng.pkl``: the states of Python's ``random``, NumPy's global generator (epsilon-greedy draws
  and SB3's replay sampling use it), torch's CPU (and, if initialised, CUDA) generators and the action
  space's generator (random actions);
- ``checkpoint/env_state.pkl``: the state of the training env, read from every layer of a ``DummyVecEnv``: the
  ``VecEnv`` wrappers (``VecFrameStack``'s frame stacks, ``VecNormalize`` statistics), the ``DummyVecEnv``
  buffers and pending seeds, and for each sub-env every gymnasium wrapper and the env itself (its physics
  state, step counters, ``np_random``); an Atari emulator is saved with ``cloneState(include_rng=True)``.
  Attributes that cannot be pickled (open Monitor CSV files, renderers) are left to the new env. The envs of a
  ``SubprocVecEnv`` live in other processes and are not saved: there the resumed run starts new episodes;
- ``checkpoint/meta.json``: the format version and a human-readable summary.

The file is written atomically (:func:`~sb3_dqn_paper.atomic_io.atomic_write`), so a crash or a full disk
during a save leaves the previous checkpoint as it was. Loading a checkpoint restores the process's global
random states: that is what makes the resumed run the run that would have happened. Checkpoints contain
pickles: load only files you trust, as with SB3's own files.

:class:`PaperCheckpointCallback` writes one every ``save_freq`` agent steps, keeps the last ``keep_last`` and,
on SIGINT/SIGTERM, writes one and stops ``learn()`` cleanly. Checkpoints are written at the start of a rollout,
where the previous update has finished and nothing of the next step has happened yet (SB3's
``CheckpointCallback`` saves inside ``on_step``, after ``env.step`` and before the transition is stored, which
cannot be resumed exactly).

Exactness holds on CPU with the same versions of the libraries and the same number of torch threads. On GPU,
cuDNN/cuBLAS kernels may be non-deterministic, so a resumed GPU run is statistically, not bitwise, the same run.
"""

import argparse
import datetime
import io
import json
import os
import pathlib
import pickle
import random
import re
import signal
import struct
import sys
import threading
import warnings
import zipfile
import zlib
from types import FrameType
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

import sb3_dqn_paper
from sb3_dqn_paper.atomic_io import atomic_write, remove_stale_temporary_files, with_default_suffix
from sb3_dqn_paper.errors import (
    CheckpointError,
    DamagedCheckpointError,
    InvalidArgumentError,
    InvalidModelFileError,
    InvalidReplayBufferError,
)
from sb3_dqn_paper.file_checks import check_model_file, check_replay_buffer, open_zip
from sb3_dqn_paper.paper_dqn import PaperDQN

#: Value of ``meta.json``'s ``format`` key.
CHECKPOINT_FORMAT = "sb3-dqn-paper-checkpoint"
#: Version of the layout below; a reader refuses newer versions.
CHECKPOINT_VERSION = 1
META_ENTRY = "checkpoint/meta.json"
RNG_ENTRY = "checkpoint/rng.pkl"
ENV_ENTRY = "checkpoint/env_state.pkl"
REPLAY_BUFFER_ENTRY = "checkpoint/replay_buffer.pkl"

#: Attributes that link one env layer to the next; the walk follows them instead of saving them.
_LINK_ATTRIBUTES = frozenset({"env", "venv", "envs"})
#: Attributes derived from the class, not state (``VecEnvWrapper`` caches its class members here).
_DERIVED_ATTRIBUTES = frozenset({"class_attributes"})


class _EmulatorState:
    """
    An Atari emulator state (``ALEInterface.cloneState(include_rng=True)``), restored with ``restoreState``.

    :param state: The ``ALEState`` (picklable, unlike the ``ALEInterface``)
    """

    def __init__(self, state: Any) -> None:
        self.state = state


def _is_emulator(value: Any) -> bool:
    return type(value).__name__ == "ALEInterface" and hasattr(value, "cloneState") and hasattr(value, "restoreState")


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def env_layers(vec_env: VecEnv) -> tuple[list[Any], str | None]:
    """
    Every object whose attributes make up the state of ``vec_env``, from the outermost ``VecEnv`` wrapper in.

    :param vec_env: The training env (``model.env``)
    :return: The layers, and ``None`` or the reason why the sub-envs cannot be reached (then only the
        ``VecEnv`` wrappers are listed)
    """
    layers: list[Any] = []
    layer: Any = vec_env
    while isinstance(layer, VecEnvWrapper):
        layers.append(layer)
        layer = layer.venv
    layers.append(layer)
    if not isinstance(layer, DummyVecEnv):
        return layers, f"the sub-envs of a {type(layer).__name__} live elsewhere and cannot be saved"
    for env in layer.envs:
        while isinstance(env, gym.Wrapper):
            layers.append(env)
            env = env.env
        layers.append(env)
    return layers, None


def _layer_state(layer: Any, skipped: list[str]) -> dict[str, Any]:
    state = {}
    for name, value in vars(layer).items():
        if name in _DERIVED_ATTRIBUTES or isinstance(value, (gym.Env, VecEnv)):
            continue
        if name in _LINK_ATTRIBUTES and (isinstance(value, list) or value is None):
            continue
        if _is_emulator(value):
            state[name] = _EmulatorState(value.cloneState(include_rng=True))
            continue
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # open files, locks, renderers: the new env's own value stays
            skipped.append(f"{type(layer).__name__}.{name}")
            continue
        state[name] = value
    return state


def get_env_state(vec_env: VecEnv) -> dict[str, Any]:
    """
    The state of a training env, to be put back with :func:`set_env_state`.

    :param vec_env: The training env (``model.env``)
    :return: A picklable dict: ``layers`` (the class of each layer), ``states`` (the attributes of each layer, or
        ``None`` when the sub-envs cannot be reached), ``skipped`` (attributes that could not be pickled) and
        ``reason`` (why the state is missing, if it is)
    """
    layers, reason = env_layers(vec_env)
    skipped: list[str] = []
    states = None if reason else [_layer_state(layer, skipped) for layer in layers]
    return {"layers": [_type_name(layer) for layer in layers], "states": states, "skipped": skipped, "reason": reason}


def set_env_state(vec_env: VecEnv, env_state: dict[str, Any]) -> None:
    """
    Put the state captured by :func:`get_env_state` into ``vec_env``, which must be built the same way.

    :param vec_env: An env with the same layers (same wrappers, same number of sub-envs)
    :param env_state: What :func:`get_env_state` returned
    :raises CheckpointError: if the layers differ, naming the first difference
    """
    if env_state["states"] is None:
        raise CheckpointError(f"the checkpoint holds no env state: {env_state['reason']}")
    layers, _ = env_layers(vec_env)
    names, saved_names = [_type_name(layer) for layer in layers], env_state["layers"]
    if names != saved_names:
        first = next((i for i, (a, b) in enumerate(zip(names, saved_names, strict=False)) if a != b), None)
        first = min(len(names), len(saved_names)) if first is None else first
        saved = saved_names[first] if first < len(saved_names) else "nothing"
        given = names[first] if first < len(names) else "nothing"
        raise CheckpointError(
            f"the env is not built like the checkpoint's: layer {first} is {given} but was {saved} "
            f"(checkpoint layers: {saved_names}). Build the env the same way, or pass "
            "restore_env_state=False to start new episodes instead."
        )
    for layer, state in zip(layers, env_state["states"], strict=True):
        for name, value in state.items():
            if isinstance(value, _EmulatorState):
                getattr(layer, name).restoreState(value.state)
            else:
                setattr(layer, name, value)


def get_rng_state(model: PaperDQN) -> dict[str, Any]:
    """
    The random states a run draws from: Python, NumPy's global generator, torch (CPU and initialised CUDA) and
    the model's action space.

    :param model: The model (its action space's generator is read, not created)
    :return: A picklable dict for :func:`set_rng_state`
    """
    action_rng = getattr(model.action_space, "_np_random", None)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
        "action_space": None if action_rng is None else action_rng.bit_generator.state,
    }
    if th.cuda.is_available() and th.cuda.is_initialized():
        state["torch_cuda"] = th.cuda.get_rng_state_all()
    return state


def set_rng_state(model: PaperDQN, state: dict[str, Any]) -> None:
    """
    Set the process's random states (and the model's action space's) to those of :func:`get_rng_state`.

    :param model: The model whose action space gets its generator back
    :param state: What :func:`get_rng_state` returned
    """
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    th.set_rng_state(state["torch"])
    if "torch_cuda" in state and th.cuda.is_available() and len(state["torch_cuda"]) == th.cuda.device_count():
        th.cuda.set_rng_state_all(state["torch_cuda"])
    if state["action_space"] is not None:
        model.action_space.np_random.bit_generator.state = state["action_space"]


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
        "written_by": f"sb3-dqn-paper {sb3_dqn_paper.__version__}",
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


def _checkpoint_pattern(name_prefix: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(name_prefix)}_(\d+)_steps\.zip$")


def list_checkpoints(folder: str | os.PathLike, name_prefix: str = "paper_dqn") -> list[pathlib.Path]:
    """
    The checkpoints :class:`PaperCheckpointCallback` wrote in ``folder``, oldest first (by step count).

    :param folder: The callback's ``save_path``
    :param name_prefix: The callback's ``name_prefix``
    :return: Paths, sorted by the step count in their names
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        return []
    pattern = _checkpoint_pattern(name_prefix)
    found = [(int(match.group(1)), path) for path in folder.iterdir() if (match := pattern.match(path.name))]
    return [path for _, path in sorted(found)]


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


def latest_checkpoint(folder: str | os.PathLike, name_prefix: str = "paper_dqn", verify: bool = False) -> pathlib.Path | None:
    """
    The newest usable checkpoint in ``folder``, skipping the others with a warning that names each.

    :param folder: The callback's ``save_path``
    :param name_prefix: The callback's ``name_prefix``
    :param verify: Check every entry's CRC (:func:`verify_checkpoint`, reads each candidate whole) instead of only
        the summary and the list of entries (:func:`read_checkpoint_meta`)
    :return: Its path, or ``None`` if there is none
    """
    check = verify_checkpoint if verify else read_checkpoint_meta
    for path in reversed(list_checkpoints(folder, name_prefix)):
        try:
            check(path)
        except CheckpointError as error:
            warnings.warn(f"skipping a checkpoint that cannot be used: {error}", stacklevel=2)
            continue
        return path
    return None


def _check_env_fits(path: pathlib.Path, data: dict[str, Any], env: VecEnv) -> None:
    problems = []
    if env.observation_space != data["observation_space"]:
        problems.append(f"observation space {env.observation_space} (checkpoint: {data['observation_space']})")
    if env.action_space != data["action_space"]:
        problems.append(f"action space {env.action_space} (checkpoint: {data['action_space']})")
    if problems:
        raise CheckpointError(f"{path} was saved for another env: the env given has " + " and ".join(problems))


def load_checkpoint(
    path: str | os.PathLike,
    env: gym.Env | VecEnv | None = None,
    device: th.device | str = "auto",
    restore_env_state: bool = True,
    restore_rng_states: bool = True,
    load_replay_buffer: bool = True,
    custom_objects: dict[str, Any] | None = None,
    name_prefix: str = "paper_dqn",
    **kwargs: Any,
) -> PaperDQN:
    """
    Load a checkpoint written by :func:`save_checkpoint` or :class:`PaperCheckpointCallback`, ready to resume.

    Continue the run with :func:`resume_learning` (or ``model.learn(remaining, reset_num_timesteps=False)``).
    Everything is read and checked before the env or the global random states are touched.

    :param path: Checkpoint file, or a folder of them (the newest usable one is loaded)
    :param env: The training env, built as for the saved run (same wrappers, same number of envs); ``None``
        for a model that only predicts
    :param device: Device for the model
    :param restore_env_state: Put the saved env state (episodes in progress, frame stacks, env RNGs) into ``env``.
        ``False``, or a checkpoint without env state, resets ``env`` at the next ``learn()``
    :param restore_rng_states: Set Python's, NumPy's and torch's global random states and the action space's
        to the saved ones (needed for an exact resume)
    :param load_replay_buffer: Restore the saved replay buffer (needed for an exact resume)
    :param custom_objects: As in ``PaperDQN.load``
    :param name_prefix: File name prefix of the checkpoints when ``path`` is a folder
    :param kwargs: Attributes to change on load, as in ``PaperDQN.load`` (the run is then no longer exact)
    :return: The model
    :raises CheckpointError: if the file is damaged, truncated, from another env or another number of envs,
        or holds a replay buffer that does not fit
    """
    path = pathlib.Path(path)
    arguments = dict(
        env=env,
        device=device,
        restore_env_state=restore_env_state,
        restore_rng_states=restore_rng_states,
        load_replay_buffer=load_replay_buffer,
        custom_objects=custom_objects,
        **kwargs,
    )
    remove_stale_temporary_files(path if path.is_dir() else path.parent)
    if not path.is_dir():
        return _load_checkpoint_file(path, **arguments)
    for candidate in reversed(list_checkpoints(path, name_prefix)):
        try:
            return _load_checkpoint_file(candidate, **arguments)
        except DamagedCheckpointError as error:
            warnings.warn(f"skipping a damaged checkpoint, trying the one before it: {error}", stacklevel=2)
        except CheckpointError as error:
            if is_checkpoint(candidate):  # a sound checkpoint that does not fit (env, memory): older ones would not either
                raise
            warnings.warn(f"skipping a checkpoint that cannot be used: {error}", stacklevel=2)
    raise CheckpointError(f"no usable checkpoint named {name_prefix}_<steps>_steps.zip in {path}")


def _load_checkpoint_file(
    path: pathlib.Path,
    env: gym.Env | VecEnv | None,
    device: th.device | str,
    restore_env_state: bool,
    restore_rng_states: bool,
    load_replay_buffer: bool,
    custom_objects: dict[str, Any] | None,
    **kwargs: Any,
) -> PaperDQN:
    """:func:`load_checkpoint` of one file; damage is raised as :class:`DamagedCheckpointError`."""
    meta = read_checkpoint_meta(path)
    damaged = f"{path} is damaged and cannot be loaded"
    try:
        data = check_model_file(path)
    except InvalidModelFileError as error:
        raise DamagedCheckpointError(f"{damaged}: {error!r}") from error
    with open_zip(path, DamagedCheckpointError, damaged) as archive:
        rng_state = pickle.loads(archive.read(RNG_ENTRY))
        env_state = pickle.loads(archive.read(ENV_ENTRY)) if ENV_ENTRY in archive.namelist() else None

    vec_env = None
    if env is not None:
        vec_env = PaperDQN._wrap_env(env, verbose=0)
        _check_env_fits(path, data, vec_env)
        if vec_env.num_envs != meta["n_envs"] and (restore_env_state or load_replay_buffer):
            raise CheckpointError(
                f"{path} was saved with {meta['n_envs']} envs but the env given has {vec_env.num_envs}; the replay "
                "buffer and env state cannot be carried over (pass load_replay_buffer=False and "
                "restore_env_state=False to keep only the weights and counters)"
            )
    try:
        model = PaperDQN.load(path, env=vec_env, device=device, custom_objects=custom_objects, force_reset=False, **kwargs)
    except InvalidModelFileError as error:
        raise DamagedCheckpointError(f"{path} holds a model that cannot be loaded: {error}") from error
    # Read after the model, whose new (still untouched, so not yet resident) buffer is then replaced
    overhead = int(meta.get("replay_buffer_load_overhead_bytes") or 0)
    buffer = _read_replay_buffer(path, overhead) if load_replay_buffer and meta.get("replay_buffer") else None
    if buffer is not None:
        try:
            check_replay_buffer(model, buffer, f"the replay buffer in {path}")
        except InvalidReplayBufferError as error:
            raise CheckpointError(str(error)) from error
        buffer.device = model.device
        model.replay_buffer = buffer
    elif load_replay_buffer:
        warnings.warn(f"{path} holds no replay buffer: training resumes with an empty one", stacklevel=2)

    if vec_env is not None:
        if restore_env_state and env_state is not None and env_state["states"] is not None:
            set_env_state(model.env, env_state)  # type: ignore[arg-type]
        else:
            if restore_env_state:
                reason = "none was saved" if env_state is None else env_state["reason"]
                warnings.warn(f"the env state is not restored ({reason}): training resumes with new episodes", stacklevel=2)
            model._last_obs = None  # type: ignore[assignment]  # learn() resets the env
    if restore_rng_states:
        set_rng_state(model, rng_state)
    return model


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
    try:
        import psutil
    except ImportError:  # psutil is optional in SB3; without it the check is skipped
        return
    available = psutil.virtual_memory().available
    if n_bytes > available:
        raise CheckpointError(
            f"loading {what} needs {n_bytes / 2**30:.2f} GiB of memory but only {available / 2**30:.2f} GiB is available"
        )


def resume_learning(model: PaperDQN, total_timesteps: int | None = None, **learn_kwargs: Any) -> PaperDQN:
    """
    Continue a loaded run up to ``total_timesteps`` agent steps in all, counting the steps already taken.

    This is ``model.learn(total_timesteps - model.num_timesteps, reset_num_timesteps=False, ...)``: the
    counters, the exploration schedule and the learning-rate progress continue where the run stopped.

    :param model: A model from :func:`load_checkpoint`
    :param total_timesteps: The run's total agent steps; ``None`` keeps the target of the interrupted ``learn()``
    :param learn_kwargs: Further ``learn()`` arguments (``callback``, ``log_interval``, ``tb_log_name``, ...)
    :return: The model
    """
    target = int(getattr(model, "_total_timesteps", 0)) if total_timesteps is None else total_timesteps
    remaining = target - model.num_timesteps
    if remaining <= 0:
        return model
    return model.learn(remaining, reset_num_timesteps=False, **learn_kwargs)


class PaperCheckpointCallback(BaseCallback):
    """
    Write a checkpoint every ``save_freq`` agent steps, keep the last ``keep_last``, and stop cleanly on a signal.

    Checkpoints are written at the start of a rollout (with the paper's ``train_freq=1``: before each env step),
    once the step count has reached the next multiple of ``save_freq``, to
    ``save_path/{name_prefix}_{num_timesteps}_steps.zip``. Older ones beyond ``keep_last`` are deleted only
    after the new one is safely on disk.

    With ``handle_signals``, SIGINT and SIGTERM received during ``learn()`` let the current update finish; at the
    next rollout start a checkpoint is written and ``learn()`` returns (after one more env step whose result is
    discarded: resume from the checkpoint, not from the model in memory). ``interrupted_by`` then names the
    signal. A second signal of the same kind acts as if the callback were not there (Ctrl-C twice aborts at once).
    Handlers can only be installed from the main thread; elsewhere a warning says that signals are not handled.
    ``on_training_end`` called from outside ``learn()`` (rl-zoo3 does so after ``learn()`` died from an exception)
    only restores the handlers: the state is then unknown, so no checkpoint is written.

    :param save_freq: Agent steps (over all envs) between checkpoints
    :param save_path: Folder of the checkpoints
    :param keep_last: How many of the newest checkpoints to keep; ``None`` keeps all
    :param name_prefix: File name prefix
    :param save_replay_buffer: Include the replay buffer (needed for an exact resume)
    :param compress_replay_buffer: Deflate the replay buffer (smaller, slower)
    :param handle_signals: Catch SIGINT/SIGTERM during ``learn()`` as described above
    :param save_on_training_end: Also write a checkpoint when ``learn()`` ends normally
    :param verbose: 0 silent, 1 one line per checkpoint
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | os.PathLike,
        keep_last: int | None = 2,
        name_prefix: str = "paper_dqn",
        save_replay_buffer: bool = True,
        compress_replay_buffer: bool = False,
        handle_signals: bool = True,
        save_on_training_end: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if save_freq <= 0:
            raise InvalidArgumentError(f"save_freq must be a positive number of agent steps, got {save_freq}")
        if keep_last is not None and keep_last < 1:
            raise InvalidArgumentError(f"keep_last must be at least 1 (or None to keep every checkpoint), got {keep_last}")
        if not re.fullmatch(r"[\w.-]+", name_prefix):
            raise InvalidArgumentError(
                f"name_prefix must be a plain file name part (letters, digits, _ . -), got {name_prefix!r}"
            )
        self.save_freq = save_freq
        self.save_path = pathlib.Path(save_path)
        self.keep_last = keep_last
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.compress_replay_buffer = compress_replay_buffer
        self.handle_signals = handle_signals
        self.save_on_training_end = save_on_training_end
        #: The newest checkpoint written by this callback
        self.last_checkpoint: pathlib.Path | None = None
        #: The signal that stopped ``learn()``, if one did
        self.interrupted_by: signal.Signals | None = None
        self._signal_received: signal.Signals | None = None
        self._stopping = False
        self._in_rollout = False
        self._next_save = 0
        self._previous_handlers: dict[signal.Signals, Any] = {}

    def _init_callback(self) -> None:
        self.save_path.mkdir(parents=True, exist_ok=True)

    def _on_training_start(self) -> None:
        self._stopping = False
        self._signal_received = None
        self.interrupted_by = None
        self._in_rollout = False
        self._next_save = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq
        if self.handle_signals:
            self._install_handlers()

    def _on_rollout_start(self) -> None:
        self._in_rollout = True
        if self._signal_received is not None:
            if not self._stopping:
                self.save()
                self._stopping = True
                self.interrupted_by = self._signal_received
        elif self.model.num_timesteps >= self._next_save:
            self.save()

    def _on_step(self) -> bool:
        return not self._stopping

    def _on_rollout_end(self) -> None:
        self._in_rollout = False

    def _on_training_end(self) -> None:
        self._restore_handlers()
        if self._stopping:
            return
        # Called from outside learn(): learn() died from an exception and someone cleans up after it (rl-zoo3's
        # ExperimentManager.learn calls its first callback's on_training_end in a `finally`); the state is unknown
        if not self._training_active(sys._getframe()):
            return
        # Consistent only if learn() left its loop normally (not from inside a rollout stopped by a callback)
        if self._signal_received is not None:
            self.interrupted_by = self._signal_received
        wanted = self.save_on_training_end or self._signal_received is not None
        if wanted and not self._in_rollout and self._saved_step() != self.model.num_timesteps:
            self.save()

    def _saved_step(self) -> int | None:
        if self.last_checkpoint is None:
            return None
        match = _checkpoint_pattern(self.name_prefix).match(self.last_checkpoint.name)
        return int(match.group(1)) if match else None

    def save(self) -> pathlib.Path:
        """
        Write a checkpoint now and delete the oldest beyond ``keep_last``.

        :return: The path written
        """
        path = self.save_path / f"{self.name_prefix}_{self.model.num_timesteps}_steps.zip"
        try:
            save_checkpoint(self.model, path, self.save_replay_buffer, self.compress_replay_buffer)  # type: ignore[arg-type]
        except BaseException:
            self._restore_handlers()  # learn() is about to die; on_training_end will not run
            raise
        self.last_checkpoint = path
        self._next_save = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq
        if self.verbose >= 1:
            print(f"Saving checkpoint to {path}")
        if self.keep_last is not None:
            for old in list_checkpoints(self.save_path, self.name_prefix)[: -self.keep_last]:
                if old != path:
                    old.unlink(missing_ok=True)
        return path

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            warnings.warn(
                "PaperCheckpointCallback: learn() runs outside the main thread, so SIGINT/SIGTERM are not handled",
                stacklevel=2,
            )
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._handle_signal)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def _training_active(self, frame: FrameType | None) -> bool:
        while frame is not None:
            if frame.f_code.co_name == "learn" and frame.f_locals.get("self") is self.model:
                return True
            frame = frame.f_back
        return False

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._signal_received is None and self._training_active(frame):
            self._signal_received = signal.Signals(signum)
            if self.verbose >= 1:
                print(f"{signal.Signals(signum).name} received: checkpointing and stopping after the current update")
            return
        # A second signal, or one after learn() died without cleaning up: behave as without this callback
        self._restore_handlers()
        signal.raise_signal(signum)


def main(argv: list[str] | None = None) -> int:
    """
    Show a checkpoint's summary and check every entry's CRC: ``python -m sb3_dqn_paper.checkpoint FILE``.

    :param argv: Command-line arguments (default: ``sys.argv[1:]``)
    :return: Exit status: 0 if every file is a sound checkpoint, 1 otherwise
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.checkpoint",
        description="Print the summary of sb3-dqn-paper checkpoints and verify their integrity (CRC of every entry).",
    )
    parser.add_argument("paths", nargs="+", type=pathlib.Path, help="checkpoint files, or folders of them")
    parser.add_argument("--name-prefix", default="paper_dqn", help="file name prefix of checkpoints in a folder")
    parser.add_argument(
        "--latest",
        action="store_true",
        help="print only the path of the newest usable checkpoint of each folder (exit status 1 if a folder has none), "
        "e.g. for rl-zoo3's -i in a job script",
    )
    args = parser.parse_args(argv)
    if args.latest:
        return _print_latest(args.paths, args.name_prefix)
    status = 0
    for given in args.paths:
        paths = list_checkpoints(given, args.name_prefix) if given.is_dir() else [given]
        for path in paths:
            try:
                meta = verify_checkpoint(path)
            except CheckpointError as error:
                print(f"BAD {error}")
                status = 1
                continue
            print(f"OK  {path}: " + json.dumps(meta, indent=2))
    return status


def _print_latest(paths: list[pathlib.Path], name_prefix: str) -> int:
    """
    ``--latest``: print the newest checkpoint of each folder that passes :func:`verify_checkpoint` (every entry's
    CRC); a file given is printed if it passes. Damaged files are named on stderr. Nothing is printed on stdout for
    a folder without one, so that ``-i "$(...)"`` gets an empty path, which ``--algo paper_dqn`` refuses.

    :param paths: Folders or files
    :param name_prefix: File name prefix of the checkpoints in a folder
    :return: Exit status: 1 if one of them has no usable checkpoint
    """
    status = 0
    for given in paths:
        with warnings.catch_warnings(record=True) as skipped:
            warnings.simplefilter("always")
            if given.is_dir():
                latest = latest_checkpoint(given, name_prefix, verify=True)
            else:
                try:
                    latest = given if verify_checkpoint(given) else None
                except CheckpointError as error:
                    warnings.warn(f"skipping a checkpoint that cannot be used: {error}", stacklevel=1)
                    latest = None
        for warning in skipped:
            print(warning.message, file=sys.stderr)
        if latest is None:
            print(f"no usable checkpoint {name_prefix}_<steps>_steps.zip in {given}", file=sys.stderr)
            status = 1
        else:
            print(latest)
    return status


if __name__ == "__main__":
    sys.exit(main())
