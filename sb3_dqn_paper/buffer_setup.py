"""
Which replay buffer PaperDQN builds, and the checks made before it is built, whatever its class: its keyword
arguments, and the memory it needs.
"""

import inspect

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape

from sb3_dqn_paper.errors import InsufficientMemoryError, InvalidArgumentError
from sb3_dqn_paper.memory_check import check_memory_available
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer, detect_frame_stack

#: Arguments that SB3's ``OffPolicyAlgorithm`` gives the replay buffer itself; in ``replay_buffer_kwargs`` they clash.
ALGORITHM_BUFFER_ARGUMENTS = ("buffer_size", "observation_space", "action_space", "device", "n_envs", "optimize_memory_usage")


def sb3_buffer_bytes(
    buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space, n_envs: int, optimize_memory_usage: bool
) -> int:
    """
    The bytes SB3's ``ReplayBuffer`` (or ``DictReplayBuffer``, for a ``Dict`` space) allocates: observations, next
    observations (not with ``optimize_memory_usage``), actions, and float32 rewards, dones and timeouts.

    :param buffer_size: Transitions, over all envs (split over them as SB3 does)
    :param observation_space: The observation space
    :param action_space: The action space
    :param n_envs: Number of envs
    :param optimize_memory_usage: SB3's option that stores each observation once
    :return: The bytes
    """
    rows = max(buffer_size // n_envs, 1) * n_envs
    subspaces = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
    observation = sum(int(np.prod(get_obs_shape(space))) * np.dtype(space.dtype).itemsize for space in subspaces)
    action_dtype = np.dtype(np.float32 if np.dtype(action_space.dtype) == np.float64 else action_space.dtype)
    action = get_action_dim(action_space) * action_dtype.itemsize
    copies = 1 if optimize_memory_usage and not isinstance(observation_space, spaces.Dict) else 2
    return rows * (copies * observation + action + 3 * np.dtype(np.float32).itemsize)


def check_replay_buffer_setup(algorithm: OffPolicyAlgorithm, check_memory: bool = True) -> None:
    """
    The checks of an algorithm's replay buffer, whatever its class, before it is built: its keyword arguments, and the
    memory it needs (the one check of :func:`~sb3_dqn_paper.memory_check.check_memory_available`; a
    :class:`FrameStackReplayBuffer` makes it itself when it allocates, other classes are counted as SB3's buffers).

    :param algorithm: The algorithm, its ``replay_buffer_class`` (``None``: SB3's default for the space) and
        ``replay_buffer_kwargs`` chosen, its buffer not built yet
    :param check_memory: Check the memory (``False`` for a model being loaded, whose empty buffer may never be filled)
    :raises InvalidArgumentError: for a keyword argument that the algorithm sets itself, or that the class does not take
        (e.g. ``compression``, an option of :class:`FrameStackReplayBuffer`, when ``optimize_memory_usage=True`` selects
        SB3's buffer)
    :raises InsufficientMemoryError: naming the bytes needed and available, before anything is allocated
    """
    buffer_class, buffer_kwargs = algorithm.replay_buffer_class, algorithm.replay_buffer_kwargs
    buffer_size, observation_space, n_envs = algorithm.buffer_size, algorithm.observation_space, algorithm.n_envs
    action_space, optimize_memory_usage = algorithm.action_space, algorithm.optimize_memory_usage
    if buffer_class is None:
        buffer_class = DictReplayBuffer if isinstance(observation_space, spaces.Dict) else ReplayBuffer
    clashes = sorted(set(buffer_kwargs) & set(ALGORITHM_BUFFER_ARGUMENTS))
    if clashes:
        raise InvalidArgumentError(
            f"replay_buffer_kwargs must not hold {clashes}: PaperDQN passes them to the replay buffer itself. "
            "Give them as PaperDQN's own arguments."
        )
    parameters = inspect.signature(buffer_class.__init__).parameters
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        unknown = sorted(set(buffer_kwargs) - set(parameters))
        if unknown:
            hint = ""
            if issubclass(FrameStackReplayBuffer, buffer_class):
                hint = (
                    " They are options of FrameStackReplayBuffer, which PaperDQN uses for frame stacks unless "
                    "optimize_memory_usage=True or another replay_buffer_class is given."
                )
            raise InvalidArgumentError(
                f"replay_buffer_kwargs {unknown} are not arguments of the replay buffer {buffer_class.__name__}.{hint}"
            )
    if not check_memory or issubclass(buffer_class, FrameStackReplayBuffer):
        return  # a FrameStackReplayBuffer checks when it allocates, with its own layout
    n_bytes = sb3_buffer_bytes(buffer_size, observation_space, action_space, n_envs, optimize_memory_usage)
    check_memory_available(
        n_bytes,
        f"the replay buffer ({buffer_class.__name__}) of {buffer_size:,} transitions",
        InsufficientMemoryError,
        note=f" ({n_bytes // max(buffer_size, 1):,} bytes per transition, as SB3 lays it out)",
        advice=" Lower buffer_size or free memory.",
    )


def setup_replay_buffer(algorithm: OffPolicyAlgorithm) -> None:
    """
    Choose the replay buffer of PaperDQN and check it, before ``OffPolicyAlgorithm._setup_model`` builds it.

    For stacks of image frames, unless a class or ``optimize_memory_usage`` is given, the class becomes
    :class:`~sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer`, which stores each frame once; its stack size is
    ``replay_buffer_kwargs["frame_stack"]``, else ``VecFrameStack``'s ``n_stack``, else the paper's 4 if the shape
    fits (with ``n_steps > 1`` it stays SB3's choice, its ``NStepReplayBuffer``). Then
    :func:`check_replay_buffer_setup`, unless the buffer exists; a model being loaded (``_check_buffer_memory`` false)
    is not refused for the memory of a buffer it may never fill.

    :param algorithm: The algorithm, in its ``_setup_model``
    """
    buffer_kwargs = algorithm.replay_buffer_kwargs
    if algorithm.replay_buffer_class is None and not algorithm.optimize_memory_usage and algorithm.n_steps == 1:
        frame_stack = buffer_kwargs.get("frame_stack") or detect_frame_stack(algorithm.observation_space, algorithm.env)
        if frame_stack is not None:
            algorithm.replay_buffer_class = FrameStackReplayBuffer
            algorithm.replay_buffer_kwargs = {**buffer_kwargs, "frame_stack": frame_stack}
    if algorithm.replay_buffer is None:
        check_replay_buffer_setup(algorithm, check_memory=getattr(algorithm, "_check_buffer_memory", True))
