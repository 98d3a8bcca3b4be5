"""
The paper's Atari pipeline, built from SB3's ``make_atari_env`` (``AtariWrapper``) and ``VecFrameStack``.

What each piece does, against the paper (see the faithfulness table in ``docs/index.md``):

- ``AtariWrapper``: grayscale and resize to 84x84 (the paper: 110x84 then an 84x84 crop), frame skip ``k``
  with a max over the last two frames, reward clipping to {-1, 0, +1}, and two additions the 2013 paper does
  not have: up to 30 no-op actions at reset and an episode end on every life loss (both can be switched off).
- ``VecFrameStack(4)``: the last 4 preprocessed frames, the paper's 84x84x4 input.
- Frame skip: ``k = 3`` for Space Invaders (the laser blinks at ``k = 4``), ``k = 4`` for every other game.

SB3 puts ``Monitor`` *below* ``AtariWrapper``, so ``info["episode"]["r"]`` is the unclipped game score of a
whole game (all lives), which is what the paper's Table 1 reports.
"""

from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecFrameStack

from sb3_dqn_paper.errors import InvalidArgumentError, UnknownEnvironmentError

#: Frames stacked into one observation (the paper's "last 4 frames").
PAPER_FRAME_STACK = 4
#: The paper's frame skip for every game but Space Invaders.
PAPER_FRAME_SKIP = 4
#: Games whose frame skip the paper sets to 3 ("the lasers ... are not visible at k = 4").
FRAME_SKIP_3_GAMES = ("SpaceInvaders",)


def register_atari_envs() -> None:
    """Register ale-py's Atari environments with Gymnasium (idempotent; ale-py ships the ROMs)."""
    import ale_py

    gym.register_envs(ale_py)


def paper_frame_skip(env_id: str) -> int:
    """
    The paper's frame skip for a game: 3 for Space Invaders, 4 otherwise.

    :param env_id: Gymnasium id, e.g. ``"SpaceInvadersNoFrameskip-v4"`` or ``"ALE/SpaceInvaders-v5"``
    :return: The frame skip ``k``
    """
    game = env_id.split("/")[-1].split("NoFrameskip")[0].split("-v")[0]
    return 3 if game in FRAME_SKIP_3_GAMES else PAPER_FRAME_SKIP


def resolve_frame_skip(env_id: str, frame_skip: int | None) -> int:
    """
    The frame skip to use: ``frame_skip`` if given, else the paper's for the game (:func:`paper_frame_skip`).

    The one place the default is decided, for :func:`make_paper_atari_env`, the ALE vector env and the rl-zoo3
    Atari wrapper.

    :param env_id: Gymnasium id of the game
    :param frame_skip: The frame skip asked for, or ``None`` for the paper's
    :return: The frame skip ``k``
    :raises InvalidArgumentError: if ``frame_skip`` is below 1
    """
    if frame_skip is None:
        return paper_frame_skip(env_id)
    if frame_skip < 1:
        raise InvalidArgumentError(f"frame_skip must be at least 1, got {frame_skip}")
    return frame_skip


def registered_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """
    The spec of a registered Gymnasium id (ale-py's Atari ids registered first).

    :param env_id: Gymnasium id
    :return: Its spec
    :raises UnknownEnvironmentError: if the id is not registered
    """
    register_atari_envs()
    try:
        return gym.spec(env_id)
    except gym.error.Error as error:
        raise UnknownEnvironmentError(f"Unknown environment id {env_id!r}: {error}") from error


def is_atari_env_id(env_id: str, env_kwargs: dict[str, Any] | None = None) -> bool:
    """
    Whether ``env_id`` is an ale-py Atari game, after checking that it is a registered id at all; an Atari id is also
    checked as :func:`check_atari_env_id` does (no built-in frame skip, no sticky actions: the paper had neither).

    :param env_id: Gymnasium id
    :param env_kwargs: Keyword arguments that will be passed to ``gym.make``
    :return: ``True`` for an Atari game
    :raises UnknownEnvironmentError: for an unknown id
    :raises InvalidArgumentError: for an Atari id whose settings the paper's pipeline cannot use
    """
    if "ale_py" not in str(registered_spec(env_id).entry_point):
        return False
    check_atari_env_id(env_id, env_kwargs)
    return True


def check_atari_env_id(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.envs.registration.EnvSpec:
    """
    Check, before any env is built, that ``env_id`` names an Atari game that does not skip frames itself.

    :param env_id: Gymnasium id
    :param env_kwargs: Keyword arguments that will be passed to ``gym.make``
    :return: The env's spec
    :raises UnknownEnvironmentError: if the id is unknown or not an ale-py Atari game
    :raises InvalidArgumentError: if the env already skips frames or repeats actions stickily
    """
    spec = registered_spec(env_id)
    if "ale_py" not in str(spec.entry_point):
        raise UnknownEnvironmentError(
            f"{env_id} is not an Atari game of ale-py (its entry point is {spec.entry_point}): the paper's Atari pipeline "
            "needs one, e.g. 'PongNoFrameskip-v4'. For other envs use PaperDQN('MlpPolicy', env_id) or SB3's make_vec_env."
        )
    kwargs = {**spec.kwargs, **(env_kwargs or {})}
    if kwargs.get("frameskip", 1) != 1:
        raise InvalidArgumentError(
            f"{env_id} skips {kwargs['frameskip']} frames by itself, and AtariWrapper would skip again. "
            "Use the NoFrameskip-v4 id (e.g. 'PongNoFrameskip-v4') or pass env_kwargs=dict(frameskip=1)."
        )
    if kwargs.get("repeat_action_probability", 0.0) != 0.0:
        raise InvalidArgumentError(
            f"{env_id} uses sticky actions (repeat_action_probability={kwargs['repeat_action_probability']}), "
            "which the 2013 paper did not have. Use the NoFrameskip-v4 id or pass "
            "env_kwargs=dict(repeat_action_probability=0.0)."
        )
    return spec


def make_paper_atari_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    frame_skip: int | None = None,
    frame_stack: int = PAPER_FRAME_STACK,
    clip_reward: bool = True,
    terminal_on_life_loss: bool = True,
    noop_max: int = 30,
    monitor_dir: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[DummyVecEnv] | type[SubprocVecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    Build the paper's Atari input pipeline: SB3's ``AtariWrapper`` and a stack of the last 4 frames.

    :param env_id: A Gymnasium Atari id without built-in frame skip, e.g. ``"BreakoutNoFrameskip-v4"``
    :param n_envs: Number of environments in the ``VecEnv``
    :param seed: Seed of the first environment (the others get ``seed + rank``)
    :param frame_skip: Frame skip ``k``; ``None`` picks the paper's (3 for Space Invaders, else 4)
    :param frame_stack: Frames per observation (4 in the paper)
    :param clip_reward: Clip training rewards to their sign, as the paper does; the Monitor below still records
        the unclipped score in ``info["episode"]["r"]``
    :param terminal_on_life_loss: End an episode at each life loss (SB3 default; not in the 2013 paper)
    :param noop_max: Maximum number of no-ops at reset (SB3 default 30; not in the 2013 paper; 0 disables)
    :param monitor_dir: Folder for the Monitor CSV files, or ``None`` for no files
    :param env_kwargs: Keyword arguments for ``gym.make``
    :param vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``
    :param vec_env_kwargs: Keyword arguments for the ``VecEnv`` class
    :param wrapper_kwargs: Further ``AtariWrapper`` arguments (e.g. ``screen_size``); these override the above
    :return: The frame-stacked ``VecEnv`` (channel-last; SB3 transposes it for the network)
    """
    if n_envs < 1:
        raise InvalidArgumentError(f"n_envs must be at least 1, got {n_envs}")
    if frame_stack < 1:
        raise InvalidArgumentError(f"frame_stack must be at least 1, got {frame_stack}")
    check_atari_env_id(env_id, env_kwargs)
    frame_skip = resolve_frame_skip(env_id, frame_skip)
    atari_kwargs: dict[str, Any] = dict(
        frame_skip=frame_skip,
        clip_reward=clip_reward,
        terminal_on_life_loss=terminal_on_life_loss,
        noop_max=noop_max,
    )
    atari_kwargs.update(wrapper_kwargs or {})
    vec_env = make_atari_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        monitor_dir=monitor_dir,
        wrapper_kwargs=atari_kwargs,
        env_kwargs=env_kwargs,
        vec_env_cls=vec_env_cls,
        vec_env_kwargs=vec_env_kwargs,
    )
    return VecFrameStack(vec_env, n_stack=frame_stack)


def make_env_from_id(env_id: str, verbose: int = 0) -> GymEnv:
    """
    The env for an id given as a string: the paper's Atari pipeline for an Atari game, ``gym.make`` otherwise.

    An Atari id given to SB3's ``DQN`` trains on raw 210x160 RGB frames; a user of a paper reproduction expects
    the paper's input instead, so Atari games with screen observations get
    :func:`~sb3_dqn_paper.atari.make_paper_atari_env` (one env, 84x84 grayscale, 4 frames). Pass an env object
    (e.g. ``gym.make(env_id)``) to train on something else.

    :param env_id: Gymnasium id
    :param verbose: Print which env was built when >= 1
    :return: The env
    :raises UnknownEnvironmentError: for an id Gymnasium does not know
    """
    register_atari_envs()
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise UnknownEnvironmentError(f"Unknown environment id {env_id!r}: {error}") from error
    if "ale_py" in str(spec.entry_point) and spec.kwargs.get("obs_type", "rgb") in ("rgb", "grayscale"):
        if verbose >= 1:
            print(f"{env_id} is an Atari game: building the paper's pipeline, make_paper_atari_env({env_id!r})")
        return make_paper_atari_env(env_id)
    return maybe_make_env(env_id, verbose)
