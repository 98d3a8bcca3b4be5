"""
The argument checks of :class:`~sb3_dqn_paper.paper_dqn.PaperDQN`: every setting with which a run could not start
or could not learn is refused here, with a message naming it, before any env, buffer or network is built.
"""

import math
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from sb3_dqn_paper.errors import InvalidArgumentError, UnsupportedObservationError
from sb3_dqn_paper.fast_update import TD_FORWARDS
from sb3_dqn_paper.policies import CnnPolicy
from sb3_dqn_paper.precision import check_precision_name

#: The names of ``PaperDQN(loss=...)`` (``PaperDQN.LOSSES`` maps them to the loss functions).
LOSS_NAMES = ("huber", "mse")


def check_paper_dqn_arguments(
    *,
    learning_rate: float | Schedule,
    buffer_size: int,
    learning_starts: int,
    batch_size: int,
    n_steps: int,
    gamma: float,
    target_update_interval: int | None,
    tau: float,
    exploration_initial_eps: float,
    exploration_final_eps: float,
    exploration_steps: int,
    loss: str,
    max_grad_norm: float | None,
    train_freq: int | tuple[int, str] = 1,
    gradient_steps: int = -1,
    policy_kwargs: dict[str, Any] | None = None,
    td_forward: str = "auto",
    precision: str = "fp32",
    stats_window_size: int = 100,
    seed: int | None = None,
    **_: Any,
) -> None:
    """
    Refuse impossible settings of :class:`~sb3_dqn_paper.paper_dqn.PaperDQN` before any env, buffer or network is
    built. The parameters are PaperDQN's (keyword-only); the others PaperDQN passes (its ``locals()``) are ignored.

    :raises InvalidArgumentError: naming the first impossible setting (a ``ValueError`` subclass)
    :raises UnsupportedPrecisionError: for an unknown ``precision``
    """
    _check_counts(
        integers=dict(buffer_size=buffer_size, batch_size=batch_size, n_steps=n_steps),
        whole_numbers=dict(learning_starts=learning_starts, exploration_steps=exploration_steps),
    )
    if buffer_size <= 0:
        raise InvalidArgumentError(f"buffer_size must be positive, got {buffer_size}")
    if batch_size <= 0:
        raise InvalidArgumentError(f"batch_size must be positive, got {batch_size}")
    if n_steps < 1:
        raise InvalidArgumentError(f"n_steps must be at least 1 (1: the paper's one-step target), got {n_steps}")
    if batch_size > buffer_size:
        raise InvalidArgumentError(f"batch_size ({batch_size}) cannot exceed buffer_size ({buffer_size})")
    check_learning_rate(learning_rate)
    if learning_starts < 0:
        raise InvalidArgumentError(f"learning_starts must be >= 0, got {learning_starts}")
    if not 0.0 <= gamma <= 1.0:
        raise InvalidArgumentError(f"gamma must be in [0, 1], got {gamma}")
    if target_update_interval is not None and not (_is_whole_number(target_update_interval) and target_update_interval >= 1):
        # nan passes a "<= 0" test (the target network would never be synced), and 2.5 is no number of agent steps
        raise InvalidArgumentError(
            "target_update_interval must be positive or None (no target network), and a whole number of agent steps, "
            f"got {target_update_interval!r}"
        )
    _check_seed_and_window(seed, stats_window_size)
    if not 0.0 <= tau <= 1.0:
        # tau=0 (a target network that keeps its initial weights) is allowed, as in SB3's DQN
        raise InvalidArgumentError(f"tau must be in [0, 1], got {tau}")
    epsilons = {"exploration_initial_eps": exploration_initial_eps, "exploration_final_eps": exploration_final_eps}
    for name, eps in epsilons.items():
        if not 0.0 <= eps <= 1.0:
            raise InvalidArgumentError(f"{name} must be in [0, 1], got {eps}")
    if exploration_initial_eps < exploration_final_eps:
        raise InvalidArgumentError(
            f"exploration_initial_eps ({exploration_initial_eps}) must be >= exploration_final_eps "
            f"({exploration_final_eps}): epsilon anneals downwards"
        )
    if exploration_steps < 0:
        raise InvalidArgumentError(f"exploration_steps must be >= 0, got {exploration_steps}")
    if loss not in LOSS_NAMES:
        raise InvalidArgumentError(f"loss must be one of {sorted(LOSS_NAMES)}, got {loss!r}")
    if max_grad_norm is not None and not max_grad_norm > 0:
        raise InvalidArgumentError(f"max_grad_norm must be positive or None, got {max_grad_norm}")
    _check_train_freq(train_freq, gradient_steps)
    _check_net_arch(policy_kwargs)
    _check_td_forward(td_forward, target_update_interval)
    check_precision_name(precision)


def _check_seed_and_window(seed: Any, stats_window_size: Any) -> None:
    """Refuse a seed NumPy cannot take (SB3 seeds its global generator) and a logging window that is no count."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32):
        raise InvalidArgumentError(f"seed must be None or a whole number in [0, 2**32), got {seed!r}")
    if isinstance(stats_window_size, bool) or not isinstance(stats_window_size, (int, np.integer)) or stats_window_size < 1:
        raise InvalidArgumentError(f"stats_window_size must be a positive integer (episodes), got {stats_window_size!r}")


def _check_td_forward(td_forward: str, target_update_interval: int | None) -> None:
    """Refuse an unknown ``td_forward``, or ``"batched"`` with a target network."""
    if td_forward not in TD_FORWARDS:
        raise InvalidArgumentError(f"td_forward must be one of {TD_FORWARDS}, got {td_forward!r}")
    if td_forward == "batched" and target_update_interval is not None:
        raise InvalidArgumentError(
            "td_forward='batched' runs the TD target on the online network, so it needs "
            "target_update_interval=None (no target network)"
        )


def check_env_spaces(policy: str | type[BasePolicy], env: GymEnv, policy_kwargs: dict[str, Any] | None = None) -> None:
    """
    Refuse action and observation spaces PaperDQN cannot handle, with a message naming the space.

    :param policy: The policy given to the constructor
    :param env: The env
    :param policy_kwargs: The policy's keyword arguments (``normalize_images=False`` allows float images)
    :raises InvalidArgumentError: for a non-``Discrete`` action space or ``CnnPolicy`` on non-image observations
    :raises UnsupportedObservationError: for a frame stack built along the wrong axis of its frames
    """
    if not isinstance(env.action_space, spaces.Discrete):
        raise InvalidArgumentError(f"PaperDQN needs a Discrete action space (one Q-value per action), got {env.action_space}")
    wants_cnn = policy == "CnnPolicy" or (isinstance(policy, type) and issubclass(policy, CnnPolicy))
    normalize_images = (policy_kwargs or {}).get("normalize_images", True)
    # As SB3's NatureCNN: uint8 images, or any Box of rank 3 when the images are already normalised
    if wants_cnn and not is_image_space(env.observation_space, check_channels=False, normalized_image=not normalize_images):
        raise InvalidArgumentError(
            f"CnnPolicy needs image observations (uint8, shape (C, H, W) or (H, W, C); any dtype of rank 3 with "
            f"policy_kwargs=dict(normalize_images=False)), got {env.observation_space}. "
            "Use 'MlpPolicy' for vector observations."
        )
    _check_image_size(policy, env.observation_space, policy_kwargs)
    _check_frame_stack_axis(env)


#: Convolutions, as (kernel size, stride), of the features extractors whose smallest input is checked.
_CONVOLUTIONS = {"PaperCNN": ((8, 4), (4, 2)), "NatureCNN": ((8, 4), (4, 2), (3, 1))}


def smallest_image_side(convolutions: tuple[tuple[int, int], ...]) -> int:
    """
    The smallest image height (or width) that unpadded convolutions leave at least one pixel of.

    :param convolutions: (kernel size, stride) of each layer, in order
    :return: The side in pixels (20 for the paper's network, 36 for SB3's ``NatureCNN``)
    """
    side = 1
    for kernel, stride in reversed(convolutions):
        side = (side - 1) * stride + kernel
    return side


def _check_image_size(policy: str | type[BasePolicy], observation_space: spaces.Space, policy_kwargs: Any) -> None:
    """
    Refuse images smaller than the convolutions of the features extractor need, before the network is built (torch
    would raise a ``RuntimeError`` from inside it). Custom features extractors are not checked.
    """
    from stable_baselines3.common.preprocessing import is_image_space_channels_first
    from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN

    from sb3_dqn_paper.policies import PaperCNN

    kwargs = policy_kwargs if isinstance(policy_kwargs, dict) else {}
    normalized = not kwargs.get("normalize_images", True)
    extractor = kwargs.get("features_extractor_class")
    if isinstance(observation_space, spaces.Dict):
        if extractor not in (None, CombinedExtractor):
            return
        name = "SB3's CombinedExtractor (a NatureCNN for each image)"
        convolutions = _CONVOLUTIONS["NatureCNN"]
        images = {
            f"the observation {key!r}": space
            for key, space in observation_space.spaces.items()
            if is_image_space(space, normalized_image=normalized)
        }
    else:
        wants_cnn = policy == "CnnPolicy" or (isinstance(policy, type) and issubclass(policy, CnnPolicy))
        extractor = extractor or (PaperCNN if wants_cnn else None)
        if not (isinstance(extractor, type) and issubclass(extractor, (PaperCNN, NatureCNN))):
            return
        name = "the paper's network (PaperCNN)" if issubclass(extractor, PaperCNN) else "SB3's NatureCNN"
        convolutions = _CONVOLUTIONS["PaperCNN" if issubclass(extractor, PaperCNN) else "NatureCNN"]
        images = {"the observations": observation_space} if len(observation_space.shape or ()) == 3 else {}
    smallest = smallest_image_side(convolutions)
    for where, space in images.items():
        height, width = space.shape[1:] if is_image_space_channels_first(space) else space.shape[:2]
        if min(height, width) < smallest:
            raise UnsupportedObservationError(
                f"{where} are images of {height}x{width} pixels ({space}), too small for {name}: its convolutions "
                f"need at least {smallest}x{smallest}. Use larger frames (84x84 in the paper), MlpPolicy, or a "
                "features_extractor_class of your own in policy_kwargs."
            )


def _is_whole_number(value: Any) -> bool:
    """Whether ``value`` is a finite whole number (an int, or a float such as ``1e6`` from a config file)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer()


def _check_counts(integers: dict[str, Any], whole_numbers: dict[str, Any]) -> None:
    """
    Refuse sizes that are not integers (SB3 allocates arrays with them) and step counts that are not finite whole
    numbers (``nan`` compares false with everything, so it would slip past every other check).
    """
    for name, size in integers.items():
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise InvalidArgumentError(f"{name} must be an integer, got {size!r}")
    for name, value in whole_numbers.items():
        if not _is_whole_number(value):
            raise InvalidArgumentError(f"{name} must be a whole number of transitions or agent steps, got {value!r}")


#: Progress-remaining values at which a learning-rate schedule is checked (1 = start of training, 0 = end).
_SCHEDULE_CHECK_POINTS = (1.0, 0.75, 0.5, 0.25, 0.0)


def check_learning_rate(learning_rate: Any) -> None:
    """
    Refuse a learning rate with which nothing would be learned, whatever its form.

    A number must be finite and positive. A schedule (a function of the progress remaining, as SB3's
    ``ConstantSchedule``/``LinearSchedule`` or rl-zoo3's ``constant_fn``/``lin_``) must give a finite value >= 0 at
    every checked point and a positive value at the start (a schedule that decays to 0 at the end is fine).

    :param learning_rate: A number or a schedule
    :raises InvalidArgumentError: naming the value and, for a schedule, the progress at which it was read
    """
    if callable(learning_rate):
        for progress in _SCHEDULE_CHECK_POINTS:
            try:
                value = float(learning_rate(progress))
            except Exception as error:
                raise InvalidArgumentError(
                    f"the learning_rate schedule {learning_rate!r} fails at progress_remaining={progress}: {error!r}"
                ) from error
            if not math.isfinite(value) or value < 0 or (progress == 1.0 and value == 0):
                raise InvalidArgumentError(
                    f"the learning_rate schedule {learning_rate!r} gives {value} at progress_remaining={progress}: a "
                    "learning rate must be finite and positive (a schedule may reach 0 only after the start), "
                    "otherwise the run learns nothing"
                )
        return
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"learning_rate must be a number or a schedule, got {learning_rate!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise InvalidArgumentError(
            f"learning_rate must be positive and finite, got {learning_rate}: with it the run would learn nothing"
        )


def check_scheduled_rate(value: Any, progress_remaining: float, n_updates: int, num_timesteps: int) -> None:
    """
    Refuse the value a learning-rate schedule gives at an update, before the optimizer uses it.

    :func:`check_learning_rate` reads a schedule at a few points only; this is called with the value actually applied,
    at every call of ``train``.

    :param value: The schedule's value now
    :param progress_remaining: The progress at which it was read (1 = start, 0 = end)
    :param n_updates: Updates made so far (the weights are those after this many)
    :param num_timesteps: Agent steps taken so far
    :raises InvalidArgumentError: for a value that is not a finite number >= 0
    """
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not (math.isfinite(rate) and rate >= 0):
        raise InvalidArgumentError(
            f"the learning_rate schedule gives {value!r} at progress_remaining={progress_remaining:.6g} (agent step "
            f"{num_timesteps}): a learning rate must be a finite number >= 0. Training stopped before the optimizer used "
            f"it: the weights are those of update {n_updates}, unchanged by it"
        )


def check_total_timesteps(total_timesteps: Any) -> None:
    """
    Refuse a ``learn(total_timesteps)`` that is not a whole number >= 0: with ``nan`` SB3 would return at once
    without a word, with ``2.5`` it would run 3 steps.

    :param total_timesteps: The agent steps asked of ``learn``
    :raises InvalidArgumentError: naming the value
    """
    if not (_is_whole_number(total_timesteps) and total_timesteps >= 0):
        raise InvalidArgumentError(f"total_timesteps must be a whole number of agent steps >= 0, got {total_timesteps!r}")


class TrainingChecksMixin:
    """
    The checks that can only be made while an SB3 algorithm trains (put it before the algorithm's base class): the
    ``total_timesteps`` of each ``learn`` call, and the rate a learning-rate schedule gives at each update, before the
    optimizer uses it (``__init__``'s :func:`check_learning_rate` reads a schedule at a few points only).
    """

    def learn(self, total_timesteps: int, *args: Any, **kwargs: Any) -> Any:
        """
        ``learn`` of the algorithm, after :func:`check_total_timesteps`.

        :param total_timesteps: The agent steps to take
        :param args: The algorithm's other ``learn`` arguments
        :param kwargs: Its keyword arguments
        :return: The algorithm
        """
        check_total_timesteps(total_timesteps)
        return super().learn(total_timesteps, *args, **kwargs)  # type: ignore[misc]

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """
        SB3's ``_update_learning_rate``, after :func:`check_scheduled_rate` of the rate it is about to apply.

        :param optimizers: The optimizer(s) whose learning rate is set
        """
        algorithm: Any = self
        rate = algorithm.lr_schedule(algorithm._current_progress_remaining)
        check_scheduled_rate(rate, algorithm._current_progress_remaining, algorithm._n_updates, algorithm.num_timesteps)
        super()._update_learning_rate(optimizers)  # type: ignore[misc]


def _check_train_freq(train_freq: Any, gradient_steps: Any) -> None:
    """Refuse a ``train_freq`` or ``gradient_steps`` with which no update would ever run."""
    frequency, unit = train_freq, "step"
    if isinstance(train_freq, (tuple, list)):
        if len(train_freq) != 2:
            raise InvalidArgumentError(
                f"train_freq must be an int or a (frequency, 'step' | 'episode') pair, got {train_freq!r}"
            )
        frequency, unit = train_freq
    if not _is_whole_number(frequency) or frequency < 1:
        raise InvalidArgumentError(f"train_freq must be at least 1 (updates every train_freq steps), got {train_freq!r}")
    if unit not in ("step", "episode"):
        raise InvalidArgumentError(f"train_freq's unit must be 'step' or 'episode', got {unit!r}")
    if not _is_whole_number(gradient_steps) or not (gradient_steps == -1 or gradient_steps >= 1):
        raise InvalidArgumentError(
            f"gradient_steps must be -1 (one update per collected agent step, the paper's) or at least 1, got "
            f"{gradient_steps!r}: with 0 the run would collect data but never learn"
        )


def _check_net_arch(policy_kwargs: Any) -> None:
    """Refuse ``policy_kwargs`` that are not a dict, or a ``net_arch`` that is not a list of layer sizes."""
    if policy_kwargs is None:
        return
    if not isinstance(policy_kwargs, dict):
        raise InvalidArgumentError(f"policy_kwargs must be a dict, got {policy_kwargs!r}")
    net_arch = policy_kwargs.get("net_arch")
    if net_arch is None:
        return
    if not isinstance(net_arch, (list, tuple)) or not all(
        _is_whole_number(size) and size >= 1 and not isinstance(size, float) for size in net_arch
    ):
        raise InvalidArgumentError(
            f"policy_kwargs['net_arch'] must be a list of positive layer sizes, e.g. [256] or [64, 64], got {net_arch!r}"
        )


def _check_frame_stack_axis(env: Any) -> None:
    """
    Refuse a ``VecFrameStack`` that stacks image frames along another axis than their channels.

    ``VecFrameStack(env, 4, channels_order="first")`` on channel-last (H, W, C) frames stacks them along the height,
    so the network sees one tall image instead of 4 frames; SB3 accepts it without a word.
    """
    from stable_baselines3.common.preprocessing import is_image_space_channels_first
    from stable_baselines3.common.vec_env import VecEnvWrapper, VecFrameStack

    layer = env
    while isinstance(layer, VecEnvWrapper):
        if isinstance(layer, VecFrameStack):
            frames = layer.venv.observation_space
            stacked = getattr(layer, "stacked_obs", None)
            channels_first = getattr(stacked, "channels_first", None)
            if (
                isinstance(frames, spaces.Box)
                and len(frames.shape) == 3
                and is_image_space(frames, check_channels=False)
                and channels_first is not None
            ):
                frames_first = is_image_space_channels_first(frames)
                if channels_first != frames_first:
                    layout, wanted = ("(C, H, W)", "first") if frames_first else ("(H, W, C)", "last")
                    raise UnsupportedObservationError(
                        f"VecFrameStack stacks {layout} frames of shape {frames.shape} along the "
                        f"{'channel-first' if channels_first else 'channel-last'} axis, giving "
                        f"{layer.observation_space.shape}: the network would see one stretched image, not a stack of "
                        f"frames. Use VecFrameStack(..., channels_order={wanted!r}) or leave channels_order unset."
                    )
        layer = layer.venv
