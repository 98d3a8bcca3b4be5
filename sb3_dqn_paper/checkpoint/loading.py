"""
Finding and loading checkpoints (a file, or the newest usable one of a folder), and resuming a run.
"""

import os
import pathlib
import pickle
import re
import warnings
from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3.common.vec_env import VecEnv

from sb3_dqn_paper.atomic_io import remove_stale_temporary_files
from sb3_dqn_paper.checkpoint.archive import (
    ENV_ENTRY,
    RNG_ENTRY,
    _read_replay_buffer,
    is_checkpoint,
    read_checkpoint_meta,
    verify_checkpoint,
)
from sb3_dqn_paper.checkpoint.env_state import set_env_state
from sb3_dqn_paper.checkpoint.random_state import check_rng_state, set_rng_state
from sb3_dqn_paper.errors import (
    CheckpointError,
    DamagedCheckpointError,
    InvalidModelFileError,
    InvalidReplayBufferError,
)
from sb3_dqn_paper.file_checks import check_model_file, check_replay_buffer, open_zip
from sb3_dqn_paper.paper_dqn import PaperDQN


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
    if restore_rng_states:
        check_rng_state(rng_state, f"{path} ({RNG_ENTRY})")

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
