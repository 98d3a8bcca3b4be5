"""
PaperDQN: deep Q-learning as in Mnih et al. (2013), "Playing Atari with Deep Reinforcement Learning".

Algorithm 1 of the paper, and where each line lives here::

    Initialise replay memory D to capacity N                  -> buffer_size (OffPolicyAlgorithm._setup_model)
    Initialise action-value function Q with random weights    -> policies.PaperDQNPolicy
    for episode, for t:
        with probability eps select a random action,          -> PaperDQN.predict / _sample_action,
        otherwise a_t = argmax_a Q(phi(s_t), a)                  eps from PaperDQN._on_step
        execute a_t, observe r_t and x_{t+1}; store in D      -> OffPolicyAlgorithm.collect_rollouts
        sample a random minibatch of transitions from D       -> PaperDQN.train: replay_buffer.sample
        y_j = r_j                                if terminal  -> PaperDQN.td_loss (the same target as PaperDQN.td_target)
        y_j = r_j + gamma max_a' Q(phi_{j+1}, a'; theta)      (same weights theta: no target network)
        gradient descent step on (y_j - Q(phi_j, a_j; theta))^2  -> PaperDQN.td_loss; train: backward, optimizer.step

The Q-values come from ``self.fast_update`` (:class:`~sb3_dqn_paper.fast_update.FastUpdate`: reused input buffers,
channels-last on CPU, one forward for both halves of a minibatch where allowed), which computes the same values as
the plain ``q_net(obs)`` computation; ``tests/test_fast_update.py`` checks it.
"""

import math
import os
import pathlib
import pickle
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, ReplayBufferSamples, Schedule
from stable_baselines3.common.utils import LinearSchedule, get_parameters_by_name, polyak_update
from torch.nn import functional as F

from sb3_dqn_paper.atomic_io import atomic_write, with_default_suffix
from sb3_dqn_paper.errors import (
    InvalidArgumentError,
    InvalidModelFileError,
    InvalidReplayBufferError,
    NonFiniteLossError,
    UnknownEnvironmentError,
    UnsupportedObservationError,
)
from sb3_dqn_paper.fast_update import TD_FORWARDS, FastUpdate
from sb3_dqn_paper.file_checks import check_model_file, check_replay_buffer, load_failure_message
from sb3_dqn_paper.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDQNPolicy
from sb3_dqn_paper.precision import PRECISIONS, autocast, check_precision
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer, detect_frame_stack
from sb3_dqn_paper.rmsprop import DEEPMIND_DECAY, DEEPMIND_LR, CenteredRMSprop, deepmind_eps_for_mean_loss

SelfPaperDQN = TypeVar("SelfPaperDQN", bound="PaperDQN")

#: Loss functions by name: the paper's squared error, and the Huber loss of the Nature paper.
LOSSES = {"mse": F.mse_loss, "huber": F.smooth_l1_loss}


class PaperDQN(OffPolicyAlgorithm):
    """
    Deep Q-Network as in the 2013 paper: no target network, squared-error loss, RMSProp, one update per step.

    Paper: https://arxiv.org/abs/1312.5602. Every default is the paper's where it states one; where it does
    not, the faithfulness table in ``docs/index.md`` names the source of the choice.

    :param policy: The policy model to use (``"CnnPolicy"``, ``"MlpPolicy"``, ``"MultiInputPolicy"``)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, constant or a function of the progress remaining (1 -> 0).
        Default 2.5e-4, DeepMind's released code (the paper gives none)
    :param buffer_size: Replay memory size in transitions (paper: 1,000,000)
    :param learning_starts: Agent steps collected before the first update (DeepMind's code: 50,000)
    :param batch_size: Minibatch size (paper: 32)
    :param gamma: Discount factor (DeepMind's code: 0.99; the paper gives none)
    :param train_freq: Update the model every ``train_freq`` steps (paper: every step)
    :param gradient_steps: Gradient steps per rollout; ``-1`` means one per collected agent step, so that
        Algorithm 1's one update per step holds for any number of envs
    :param replay_buffer_class: Replay buffer class to use. ``None`` picks
        :class:`~sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer` (each frame stored once: ~7.1 GB for the paper's
        1M transitions) when the observations are stacks of image frames, unless ``optimize_memory_usage``;
        SB3's default otherwise. ``ReplayBuffer`` selects SB3's buffer
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation
    :param optimize_memory_usage: SB3's memory-saving replay buffer variant
    :param target_update_interval: ``None`` (the paper) for no target network: the TD target uses the online
        weights under ``no_grad``. An integer ``C`` adds the Nature paper's target network, updated every ``C``
        agent steps with ``tau``
    :param tau: Polyak coefficient of the target update (1 = hard copy); used only with a target network
    :param exploration_initial_eps: Initial epsilon of epsilon-greedy (paper: 1.0)
    :param exploration_final_eps: Final epsilon (paper: 0.1)
    :param exploration_steps: Agent steps over which epsilon falls linearly, an absolute count that does not depend
        on ``total_timesteps`` (paper: the first million frames; counted as agent steps like DeepMind's code)
    :param loss: ``"mse"`` (the paper's squared error) or ``"huber"`` (the Nature paper's error clipping)
    :param max_grad_norm: Clip the gradient norm to this value; ``None`` (the paper) for no clipping
    :param td_forward: How the no-grad forward of the TD target is run, without a target network: ``"separate"``
        (a forward over the next observations, then one with gradient over the observations), ``"batched"`` (one
        forward over both, the next-observation half detached; same values, fewer kernel launches, but the
        backward pass runs over twice the rows) or ``"auto"``: ``"separate"`` on CPU, where it is faster (measured,
        ``docs/benchmarks.md``, "Speed"), ``"batched"`` on CUDA (not measured). ``"auto"`` falls back to ``"separate"``
        with a target network, batch-norm/dropout layers or dict observations, where ``"batched"`` is refused
    :param precision: ``"fp32"`` (the default) or ``"bf16"``: the update's forward and backward passes in bf16 mixed
        precision (autocast; fp32 master weights, optimizer state, TD target and loss; see
        :mod:`sb3_dqn_paper.precision`). Refused on a device that cannot run it; on a CPU without native bf16 it is
        slower than fp32 (``docs/benchmarks.md``)
    :param stats_window_size: Window size for the rollout logging, in episodes
    :param tensorboard_log: The log location for tensorboard (if None, no logging)
    :param policy_kwargs: Additional arguments for the policy. Without ``optimizer_class`` the optimizer is
        :class:`~sb3_dqn_paper.rmsprop.CenteredRMSprop` with decay 0.95 and DeepMind's 0.01 constant rescaled to a
        mean loss over ``batch_size`` samples
    :param verbose: Verbosity level: 0 no output, 1 info, 2 debug
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    exploration_schedule: Schedule
    policy: PaperDQNPolicy

    def __init__(
        self,
        policy: str | type[PaperDQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = DEEPMIND_LR,
        buffer_size: int = 1_000_000,
        learning_starts: int = 50_000,
        batch_size: int = 32,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = -1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        target_update_interval: int | None = None,
        tau: float = 1.0,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.1,
        exploration_steps: int = 1_000_000,
        loss: str = "mse",
        max_grad_norm: float | None = None,
        td_forward: str = "auto",
        precision: str = "fp32",
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        self._check_arguments(
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            gamma,
            target_update_interval,
            tau,
            exploration_initial_eps,
            exploration_final_eps,
            exploration_steps,
            loss,
            max_grad_norm,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            policy_kwargs=policy_kwargs,
        )
        self._check_td_forward(td_forward, target_update_interval)
        if precision not in PRECISIONS:
            check_precision(precision, th.device("cpu"))  # raises UnsupportedPrecisionError naming the choices
        if isinstance(env, str):
            env = make_env_from_id(env, verbose)
        if env is not None:
            self._check_env_spaces(policy, env, policy_kwargs)

        policy_kwargs = dict(policy_kwargs or {})
        policy_kwargs.setdefault("target_network", target_update_interval is not None)
        if "optimizer_class" not in policy_kwargs:
            policy_kwargs["optimizer_class"] = CenteredRMSprop
            policy_kwargs.setdefault(
                "optimizer_kwargs", dict(decay=DEEPMIND_DECAY, eps=deepmind_eps_for_mean_loss(batch_size))
            )

        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=None,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Discrete,),
            support_multi_env=True,
        )

        self.target_update_interval = target_update_interval
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_steps = exploration_steps
        self.loss = loss
        self.max_grad_norm = max_grad_norm
        self.td_forward = td_forward
        self.precision = precision
        # "epsilon" of the epsilon-greedy exploration
        self.exploration_rate = exploration_initial_eps
        # Agent steps since the last target-network update
        self._steps_since_target_update = 0

        if _init_setup_model:
            self._setup_model()

    @staticmethod
    def _check_arguments(
        learning_rate: float | Schedule,
        buffer_size: int,
        learning_starts: int,
        batch_size: int,
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
    ) -> None:
        """
        Refuse impossible settings before any env, buffer or network is built.

        :raises InvalidArgumentError: naming the first impossible setting (a ``ValueError`` subclass)
        """
        _check_counts(
            integers=dict(buffer_size=buffer_size, batch_size=batch_size),
            whole_numbers=dict(learning_starts=learning_starts, exploration_steps=exploration_steps),
        )
        if buffer_size <= 0:
            raise InvalidArgumentError(f"buffer_size must be positive, got {buffer_size}")
        if batch_size <= 0:
            raise InvalidArgumentError(f"batch_size must be positive, got {batch_size}")
        if batch_size > buffer_size:
            raise InvalidArgumentError(f"batch_size ({batch_size}) cannot exceed buffer_size ({buffer_size})")
        check_learning_rate(learning_rate)
        if learning_starts < 0:
            raise InvalidArgumentError(f"learning_starts must be >= 0, got {learning_starts}")
        if not 0.0 <= gamma <= 1.0:
            raise InvalidArgumentError(f"gamma must be in [0, 1], got {gamma}")
        if target_update_interval is not None and target_update_interval <= 0:
            raise InvalidArgumentError(
                f"target_update_interval must be positive or None (no target network), got {target_update_interval}"
            )
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
        if loss not in LOSSES:
            raise InvalidArgumentError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise InvalidArgumentError(f"max_grad_norm must be positive or None, got {max_grad_norm}")
        _check_train_freq(train_freq, gradient_steps)
        _check_net_arch(policy_kwargs)

    @staticmethod
    def _check_td_forward(td_forward: str, target_update_interval: int | None) -> None:
        """Refuse an unknown ``td_forward``, or ``"batched"`` with a target network."""
        if td_forward not in TD_FORWARDS:
            raise InvalidArgumentError(f"td_forward must be one of {TD_FORWARDS}, got {td_forward!r}")
        if td_forward == "batched" and target_update_interval is not None:
            raise InvalidArgumentError(
                "td_forward='batched' runs the TD target on the online network, so it needs "
                "target_update_interval=None (no target network)"
            )

    def _check_env_spaces(
        self, policy: str | type[PaperDQNPolicy], env: GymEnv, policy_kwargs: dict[str, Any] | None = None
    ) -> None:
        """
        Refuse action and observation spaces PaperDQN cannot handle, with a message naming the space.

        :param policy: The policy given to the constructor
        :param env: The env
        :param policy_kwargs: The policy's keyword arguments (``normalize_images=False`` allows float images)
        :raises InvalidArgumentError: for a non-``Discrete`` action space or ``CnnPolicy`` on non-image observations
        :raises UnsupportedObservationError: for a frame stack built along the wrong axis of its frames
        """
        if not isinstance(env.action_space, spaces.Discrete):
            raise InvalidArgumentError(
                f"PaperDQN needs a Discrete action space (one Q-value per action), got {env.action_space}"
            )
        wants_cnn = policy == "CnnPolicy" or (isinstance(policy, type) and issubclass(policy, CnnPolicy))
        normalize_images = (policy_kwargs or {}).get("normalize_images", True)
        # As SB3's NatureCNN: uint8 images, or any Box of rank 3 when the images are already normalised
        if wants_cnn and not is_image_space(
            env.observation_space, check_channels=False, normalized_image=not normalize_images
        ):
            raise InvalidArgumentError(
                f"CnnPolicy needs image observations (uint8, shape (C, H, W) or (H, W, C); any dtype of rank 3 with "
                f"policy_kwargs=dict(normalize_images=False)), got {env.observation_space}. "
                "Use 'MlpPolicy' for vector observations."
            )
        _check_frame_stack_axis(env)

    def _setup_model(self) -> None:
        if self.replay_buffer_class is None and not self.optimize_memory_usage:
            # Frame stacks: store each frame once. The stack size is replay_buffer_kwargs["frame_stack"] (the buffer
            # then checks it against the shape), else VecFrameStack's n_stack, else the paper's 4, if the shape fits.
            frame_stack = self.replay_buffer_kwargs.get("frame_stack") or detect_frame_stack(self.observation_space, self.env)
            if frame_stack is not None:
                self.replay_buffer_class = FrameStackReplayBuffer
                self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "frame_stack": frame_stack}
        super()._setup_model()
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target
        if self.q_net_target is not None:
            # Copy running stats, see SB3 GH issue #996
            self.batch_norm_stats = get_parameters_by_name(self.q_net, ["running_"])
            self.batch_norm_stats_target = get_parameters_by_name(self.q_net_target, ["running_"])
        # Linear from initial to final over `exploration_steps` agent steps, constant after
        self.exploration_schedule = LinearSchedule(self.exploration_initial_eps, self.exploration_final_eps, 1.0)
        self.loss_fn = LOSSES[self.loss]
        self.fast_update = FastUpdate(self.policy, self.device, self.td_forward, self.precision)

    def epsilon(self, num_timesteps: int) -> float:
        """
        Exploration rate after ``num_timesteps`` agent steps.

        :param num_timesteps: Agent steps taken so far (over all envs)
        :return: Epsilon of the epsilon-greedy policy
        """
        if self.exploration_steps == 0:
            return self.exploration_final_eps
        progress_remaining = 1.0 - min(1.0, num_timesteps / self.exploration_steps)
        return self.exploration_schedule(progress_remaining)

    def _on_step(self) -> None:
        """
        Update the exploration rate and, if a target network is used, sync it.

        Called in ``collect_rollouts()`` after each ``env.step()``, which is ``n_envs`` agent steps.
        """
        if self.q_net_target is not None:
            self._steps_since_target_update += self.n_envs
            if self._steps_since_target_update >= self.target_update_interval:  # type: ignore[operator]
                self._steps_since_target_update = 0
                polyak_update(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
        self.exploration_rate = self.epsilon(self.num_timesteps)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def q_values(self, q_net: th.nn.Module, observations: th.Tensor, slot: str = "observations") -> th.Tensor:
        """Deprecated: use ``self.fast_update.q_values`` (same arguments, same values)."""
        warnings.warn("PaperDQN.q_values is deprecated; use model.fast_update.q_values", DeprecationWarning, stacklevel=2)
        return self.fast_update.q_values(q_net, observations, slot)

    def td_target(self, rewards: th.Tensor, dones: th.Tensor, next_observations: th.Tensor) -> th.Tensor:
        """
        The TD target ``y = r + gamma * (1 - done) * max_a' Q(s', a')``, without gradient.

        ``Q`` is the online network (the paper) or the target network when ``target_update_interval`` is set.

        :param rewards: Rewards, shape (batch, 1)
        :param dones: 1.0 where the episode terminated (timeouts already masked by the buffer), shape (batch, 1)
        :param next_observations: Next observations
        :return: Targets, shape (batch, 1)
        """
        q_net = self.q_net if self.q_net_target is None else self.q_net_target
        with th.no_grad():
            next_q_values = self.fast_update.q_values(q_net, next_observations, "next_observations").float()
            return self._target_from_next_q_values(rewards, dones, next_q_values)

    def _target_from_next_q_values(self, rewards: th.Tensor, dones: th.Tensor, next_q_values: th.Tensor) -> th.Tensor:
        """``r + gamma * (1 - done) * max_a' next_q_values``, shape (batch, 1)."""
        return rewards + (1.0 - dones) * self.gamma * next_q_values.max(dim=1).values.reshape(-1, 1)

    def td_loss(self, replay_data: ReplayBufferSamples) -> th.Tensor:
        """
        The loss of Algorithm 1's gradient step on a minibatch: ``loss(Q(s, a), y)``, ``y`` as in :meth:`td_target`.

        The forwards run under ``autocast(precision)``; the Q-values are fp32 before any target arithmetic.

        :param replay_data: A minibatch from the replay buffer
        :return: The scalar loss, with gradient
        """
        with autocast(self.precision, self.device):
            q_values, next_q_values = self.fast_update.minibatch_q_values(
                self.q_net, self.q_net_target, replay_data.observations, replay_data.next_observations
            )
        target_q_values = self._target_from_next_q_values(replay_data.rewards, replay_data.dones, next_q_values)
        current_q_values = q_values.gather(1, replay_data.actions.long())
        return self.loss_fn(current_q_values, target_q_values)

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        optimizer = self.policy.optimizer

        loss_sum = 0.0
        for step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            loss = self.td_loss(replay_data)
            # On CUDA the loss is read while the backward pass is queued; either way it is checked before the step
            self.fast_update.start_loss_read(loss)
            optimizer.zero_grad()
            loss.backward()
            loss_value = self.fast_update.finish_loss_read()
            if not math.isfinite(loss_value):
                raise NonFiniteLossError(
                    f"PaperDQN: the loss became {loss_value} at update {self._n_updates + step + 1} "
                    f"(agent step {self.num_timesteps}); the weights were not updated. "
                    "Lower the learning rate, enable max_grad_norm or loss='huber', or check the rewards."
                )
            if self.max_grad_norm is not None:
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            optimizer.step()
            loss_sum += loss_value

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if gradient_steps > 0:
            self.logger.record("train/loss", loss_sum / gradient_steps)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Epsilon-greedy action (greedy when ``deterministic``), with epsilon ``self.exploration_rate``.

        :param observation: The input observation (single or vectorised)
        :param state: Unused (recurrent policies only)
        :param episode_start: Unused (recurrent policies only)
        :param deterministic: Whether to return the greedy action
        :return: The action and the (unchanged) state
        """
        if not deterministic and np.random.rand() < self.exploration_rate:
            if self.policy.is_vectorized_observation(observation):
                if isinstance(observation, dict):
                    n_batch = observation[next(iter(observation.keys()))].shape[0]
                else:
                    n_batch = observation.shape[0]
                action = np.array([self.action_space.sample() for _ in range(n_batch)])
            else:
                action = np.array(self.action_space.sample())
        else:
            action = self.fast_update.greedy_actions(self.q_net, observation)
            if action is None:
                action, state = self.policy.predict(observation, state, episode_start, deterministic)
        return action, state

    def learn(
        self: SelfPaperDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "PaperDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfPaperDQN:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfPaperDQN],
        path: Any,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfPaperDQN:
        """
        Load a model saved with :meth:`save`, after checking that the file is a PaperDQN save.

        Parameters as in SB3's ``BaseAlgorithm.load``.

        :raises InvalidModelFileError: if the file is not a zip, has no SB3 data, or was saved by another algorithm
        :raises InvalidArgumentError: for a ``learning_rate`` in ``kwargs`` (the value training continues with) that
            is zero, negative or not finite. ``custom_objects`` are not checked: rl-zoo3's ``enjoy`` loads with
            ``custom_objects={"learning_rate": 0.0, ...}`` to predict only
        """
        if "learning_rate" in kwargs:
            check_learning_rate(kwargs["learning_rate"])
        check_model_file(path)
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        except Exception as error:  # a damaged file fails deep inside torch/pickle/zipfile in many ways
            raise InvalidModelFileError(load_failure_message(path, "a PaperDQN model", error)) from error

    def save(
        self,
        path: str | pathlib.Path | Any,
        exclude: list[str] | None = None,
        include: list[str] | None = None,
    ) -> None:
        """
        SB3's ``save``, written atomically when ``path`` is a file name: a crash or a full disk midway leaves the
        previous file at ``path`` intact.

        :param path: Path of the file (``.zip`` is added when it has no suffix), or an open binary file
        :param exclude: Names of parameters that should be excluded in addition to the default ones
        :param include: Names of parameters that might be excluded but should be included anyway
        :raises SaveError: if the file cannot be written
        """
        if not isinstance(path, (str, os.PathLike)):
            super().save(path, exclude, include)
            return
        with atomic_write(with_default_suffix(path, "zip")) as file:
            super().save(file, exclude, include)

    def save_replay_buffer(self, path: str | pathlib.Path | Any) -> None:
        """
        SB3's ``save_replay_buffer`` (a pickle of the buffer), written atomically when ``path`` is a file name.

        :param path: Path of the file (``.pkl`` is added when it has no suffix), or an open binary file
        :raises SaveError: if the file cannot be written
        """
        if not isinstance(path, (str, os.PathLike)):
            super().save_replay_buffer(path)
            return
        assert self.replay_buffer is not None, "The replay buffer is not defined"
        with atomic_write(with_default_suffix(path, "pkl")) as file:
            pickle.dump(self.replay_buffer, file, protocol=pickle.HIGHEST_PROTOCOL)

    def load_replay_buffer(self, path: str | pathlib.Path | Any, truncate_last_traj: bool = True) -> None:
        """
        SB3's ``load_replay_buffer``, refusing a file that is damaged or holds a buffer that does not fit this model.

        :param path: Path of the pickled replay buffer, or an open binary file
        :param truncate_last_traj: As in SB3 (``HerReplayBuffer`` only)
        :raises InvalidReplayBufferError: naming the problem; the model keeps its current buffer
        """
        previous = self.replay_buffer
        try:
            super().load_replay_buffer(path, truncate_last_traj)
        except Exception as error:  # unpickling garbage fails in many ways
            self.replay_buffer = previous
            raise InvalidReplayBufferError(load_failure_message(path, "a replay buffer", error)) from error
        try:
            check_replay_buffer(self, self.replay_buffer, str(path))
        except InvalidReplayBufferError:
            self.replay_buffer = previous
            raise

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "loss_fn", "fast_update"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []


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
    import gymnasium as gym

    from sb3_dqn_paper.atari import make_paper_atari_env, register_atari_envs

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
