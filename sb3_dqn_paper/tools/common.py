"""
What the tools share: the evaluation env and the loading of models for it, the output-file policy, the
command-line argument types, and the wrapper that turns a refusal into ``error: ...`` and exit status 2.
"""

import argparse
import ast
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.errors import (
    InvalidArgumentError,
    OutputExistsError,
    OutputIsAFolderError,
    PaperDQNError,
    SaveError,
)


def run_tool(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int], argv: Sequence[str] | None) -> int:
    """
    A tool's ``main``: parse ``argv`` (argparse exits with status 2 on a malformed command line), then run the tool; a
    refusal of this package (:class:`PaperDQNError`), a ``ValueError`` or an ``OSError`` is printed as ``error: ...``
    on stderr and gives exit status 2, no traceback.

    :param parser: The tool's parser
    :param run: The tool's work on the parsed arguments, returning its exit status
    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    :return: The exit status
    """
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (PaperDQNError, ValueError, OSError) as error:  # PaperDQNError: every refusal of this package
        print(f"error: {error}", file=sys.stderr)
        return 2


def make_evaluation_env(
    env_id: str,
    seed: int,
    noop_max: int = 30,
    env_kwargs: dict[str, Any] | None = None,
    monitor_dir: str | None = None,
    render: bool = False,
    terminal_on_life_loss: bool = True,
) -> Any:
    """
    The evaluation environment: the training preprocessing, with unclipped rewards.

    :param env_id: Gymnasium id; Atari ids get :func:`~sb3_dqn_paper.atari.make_paper_atari_env`, others
        ``make_vec_env``
    :param seed: Seed of the environment
    :param noop_max: Maximum number of no-ops at reset (Atari only; 0 disables)
    :param env_kwargs: Keyword arguments for ``gym.make``
    :param monitor_dir: Folder for the Monitor CSV of the evaluation games, or ``None``
    :param render: Make the emulator render RGB frames (``render_mode="rgb_array"``), for recording
    :param terminal_on_life_loss: End the agent's episode (not the game) at each life loss, as in training (Atari only)
    :return: A ``VecEnv`` with one environment, channel-first for image observations (as SB3 models see them)
    """
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
    from stable_baselines3.common.vec_env import VecTransposeImage

    from sb3_dqn_paper.atari import is_atari_env_id, make_paper_atari_env

    if noop_max < 0:
        raise InvalidArgumentError(f"noop_max must be >= 0, got {noop_max}")
    check_seed(seed)
    given_kwargs = dict(env_kwargs or {})
    env_kwargs = dict(given_kwargs)
    if render:
        env_kwargs["render_mode"] = "rgb_array"
    try:
        if is_atari_env_id(env_id, env_kwargs):
            env = make_paper_atari_env(
                env_id,
                n_envs=1,
                seed=seed,
                clip_reward=False,
                terminal_on_life_loss=terminal_on_life_loss,
                noop_max=noop_max,
                monitor_dir=monitor_dir,
                env_kwargs=env_kwargs,
            )
        else:
            env = make_vec_env(env_id, n_envs=1, seed=seed, monitor_dir=monitor_dir, env_kwargs=env_kwargs)
    except TypeError as error:  # gym.make passes env_kwargs to the env's constructor, which refuses unknown names
        raise InvalidArgumentError(
            f"{env_id} cannot be built with the env kwargs {given_kwargs}: {error}. Check the names given to --env-kwargs"
        ) from error
    # SB3 models are built on channel-first images; transpose as BaseAlgorithm._wrap_env does
    if is_image_space(env.observation_space) and not is_image_space_channels_first(env.observation_space):
        env = VecTransposeImage(env)
    return env


def check_model_matches_env(model: Any, env: Any, env_id: str) -> None:
    """
    Refuse an env whose action or observation space is not the one the model was trained on.

    :param model: The loaded model
    :param env: The evaluation ``VecEnv``
    :param env_id: Its id, for the message
    :raises ValueError: naming both spaces
    """
    if model.action_space != env.action_space:
        raise InvalidArgumentError(
            f"The model acts in {model.action_space} but {env_id} has the action space {env.action_space}: "
            "it was trained on another game or env."
        )
    if model.observation_space.shape != env.observation_space.shape:
        raise InvalidArgumentError(
            f"The model expects observations of shape {model.observation_space.shape} but {env_id} gives "
            f"{env.observation_space.shape} (after the evaluation preprocessing): it was trained on another env "
            "or with another preprocessing."
        )


def load_models_for_env(paths: Sequence[str | os.PathLike], env_id: str, seed: int = 0, device: str = "cpu") -> list[Any]:
    """
    Load PaperDQN models and check each against the evaluation env of ``env_id`` (:func:`check_model_matches_env`),
    so that a tool given several models refuses a model of another game before it computes anything.

    :param paths: Model or checkpoint files
    :param env_id: Gymnasium id of the env the models will be run in
    :param seed: Seed of the env built for the check
    :param device: Torch device to load the models on
    :return: The models, in the order of ``paths``
    :raises InvalidModelFileError: for a file that is not a PaperDQN save
    :raises InvalidArgumentError: for a model whose action or observation space is not the env's
    """
    models = [load_model(path, device=device) for path in paths]
    env = make_evaluation_env(env_id, seed)
    try:
        for path, model in zip(paths, models, strict=True):
            try:
                check_model_matches_env(model, env, env_id)
            except InvalidArgumentError as error:
                raise InvalidArgumentError(f"{os.fspath(path)}: {error}") from error
    finally:
        env.close()
    return models


def load_model(path: str | os.PathLike, device: str = "auto") -> Any:
    """
    Load a PaperDQN model, checking first that the file is a PaperDQN save.

    :param path: Path of the ``.zip`` file
    :param device: Torch device
    :return: The model
    :raises InvalidModelFileError: if the file is missing or not a PaperDQN save
    """
    from sb3_dqn_paper.paper_dqn import PaperDQN

    return PaperDQN.load(path, device=device)


def format_score(value: float | None) -> str:
    """
    A score as the tables print it: integers without decimals, others with at most two.

    :param value: The score, or ``None`` for an empty cell
    :return: The text
    """
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"


def write_json(data: dict[str, Any], path: str, overwrite: bool = False) -> None:
    """
    Write ``data`` as JSON atomically (:func:`~sb3_dqn_paper.atomic_io.atomic_write_files`): a crash or a full disk
    leaves the previous file, or none, and no temporary file.

    :param data: JSON-serialisable dict
    :param path: Destination
    :param overwrite: Replace an existing file
    :raises OutputExistsError: if the file exists and ``overwrite`` is false
    :raises SaveError: if the file cannot be written, naming it
    """
    check_output_path(path, overwrite)
    atomic_write_files({path: (json.dumps(data, indent=2) + "\n").encode()})


def check_output_path(path: str, overwrite: bool) -> None:
    """
    Refuse to replace an existing file unless asked, and create the parent folder: the output policy of every tool
    that writes a result file (``evaluate``, ``record``, ``held_out_q``, ``overestimation``), called before the long
    work so that a bad ``--out`` is refused before anything is computed.

    :param path: File that will be written
    :param overwrite: Whether an existing file may be replaced
    :raises OutputIsAFolderError: if ``path`` is a folder
    :raises OutputExistsError: if the file exists and ``overwrite`` is false
    :raises SaveError: if its folder cannot be created or written to
    """
    if os.path.isdir(path):
        raise OutputIsAFolderError(f"{path} is a directory; give a file name")
    if os.path.exists(path) and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite to replace it")
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as error:
        raise SaveError(error.errno, f"cannot create the folder of {path}: {error.strerror or error}") from error
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SaveError(f"cannot write {path}: its folder {parent} is not writable")


def check_seed(seed: Any) -> None:
    """
    Refuse a seed that NumPy and Gymnasium cannot use.

    :param seed: The seed
    :raises InvalidArgumentError: for a negative or non-integer seed
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError(f"the seed must be a whole number >= 0, got {seed!r}")


def seed_argument(text: str) -> int:
    """
    ``argparse`` type of ``--seed``: a whole number >= 0.

    :param text: The command-line value
    :return: The seed
    :raises argparse.ArgumentTypeError: naming the value
    """
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return seed


def parse_env_kwargs(items: Sequence[str] | None) -> dict[str, Any]:
    """
    Parse ``key=value`` pairs; values are Python literals where they parse as one, else strings.

    :param items: E.g. ``["frameskip=1", "repeat_action_probability=0.0"]``
    :return: The keyword arguments
    :raises ValueError: for an item without ``=``
    """
    kwargs: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--env-kwargs takes key=value pairs, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return kwargs
