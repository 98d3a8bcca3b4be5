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
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, ReplayBufferSamples, Schedule
from stable_baselines3.common.utils import LinearSchedule, get_parameters_by_name, polyak_update
from torch.nn import functional as F

from sb3_dqn_paper.arguments import (
    check_env_spaces,
    check_learning_rate,
    check_paper_dqn_arguments,
    check_scheduled_learning_rate,
    check_total_timesteps,
)
from sb3_dqn_paper.atari import make_env_from_id
from sb3_dqn_paper.errors import (
    NonFiniteLossError,
)
from sb3_dqn_paper.fast_update import TD_FORWARDS, FastUpdate
from sb3_dqn_paper.file_checks import check_model_file, check_replay_buffer
from sb3_dqn_paper.model_files import ModelFilesMixin
from sb3_dqn_paper.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDQNPolicy
from sb3_dqn_paper.precision import autocast
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer, check_replay_buffer_setup, detect_frame_stack
from sb3_dqn_paper.rmsprop import DEEPMIND_DECAY, DEEPMIND_LR, CenteredRMSprop, deepmind_eps_for_mean_loss

__all__ = [
    "LOSSES",
    "TD_FORWARDS",
    "PaperDQN",
    # moved to sb3_dqn_paper.arguments, sb3_dqn_paper.atari and sb3_dqn_paper.file_checks; importable from here as before
    "check_learning_rate",
    "check_model_file",
    "check_replay_buffer",
    "make_env_from_id",
]

SelfPaperDQN = TypeVar("SelfPaperDQN", bound="PaperDQN")

#: Loss functions by name: the paper's squared error, and the Huber loss of the Nature paper.
LOSSES = {"mse": F.mse_loss, "huber": F.smooth_l1_loss}


class PaperDQN(ModelFilesMixin, OffPolicyAlgorithm):
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
        mean loss over ``batch_size`` samples; ``optimizer_kwargs`` given with it override these one by one (e.g.
        ``dict(fused=True)`` keeps both)
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
        check_paper_dqn_arguments(
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            gamma=gamma,
            target_update_interval=target_update_interval,
            tau=tau,
            exploration_initial_eps=exploration_initial_eps,
            exploration_final_eps=exploration_final_eps,
            exploration_steps=exploration_steps,
            loss=loss,
            max_grad_norm=max_grad_norm,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            policy_kwargs=policy_kwargs,
            td_forward=td_forward,
            precision=precision,
            stats_window_size=stats_window_size,
            seed=seed,
        )
        if isinstance(env, str):
            env = make_env_from_id(env, verbose)
        if env is not None:
            check_env_spaces(policy, env, policy_kwargs)

        policy_kwargs = dict(policy_kwargs or {})
        policy_kwargs.setdefault("target_network", target_update_interval is not None)
        if "optimizer_class" not in policy_kwargs:
            policy_kwargs["optimizer_class"] = CenteredRMSprop
            defaults = dict(decay=DEEPMIND_DECAY, eps=deepmind_eps_for_mean_loss(batch_size))
            policy_kwargs["optimizer_kwargs"] = {**defaults, **(policy_kwargs.get("optimizer_kwargs") or {})}

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

        # A model being loaded (SB3 builds it with _init_setup_model=False) is not refused for the memory of an empty
        # buffer it may never fill (evaluation); a checkpoint's buffer is checked by load_checkpoint
        self._check_buffer_memory = _init_setup_model
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.replay_buffer_class is None and not self.optimize_memory_usage:
            # Frame stacks: store each frame once. The stack size is replay_buffer_kwargs["frame_stack"] (the buffer
            # then checks it against the shape), else VecFrameStack's n_stack, else the paper's 4, if the shape fits.
            frame_stack = self.replay_buffer_kwargs.get("frame_stack") or detect_frame_stack(self.observation_space, self.env)
            if frame_stack is not None:
                self.replay_buffer_class = FrameStackReplayBuffer
                self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "frame_stack": frame_stack}
        if self.replay_buffer is None:
            check_replay_buffer_setup(
                self.replay_buffer_class,
                self.replay_buffer_kwargs,
                self.buffer_size,
                self.observation_space,
                self.action_space,
                self.n_envs,
                self.optimize_memory_usage,
                check_memory=getattr(self, "_check_buffer_memory", True),
            )
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

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """SB3's, after checking the value the schedule gives now (``__init__`` reads it at a few points only)."""
        rate = self.lr_schedule(self._current_progress_remaining)
        check_scheduled_learning_rate(rate, self._current_progress_remaining, self._n_updates, self.num_timesteps)
        super()._update_learning_rate(optimizers)

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
                raise NonFiniteLossError(non_finite_loss_message(loss_value, self._n_updates + step + 1, self, replay_data))
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
        check_total_timesteps(total_timesteps)
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "loss_fn", "fast_update", "_check_buffer_memory"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []


def non_finite_loss_message(loss_value: float, update: int, model: PaperDQN, replay_data: ReplayBufferSamples) -> str:
    """
    The message of the :class:`~sb3_dqn_paper.errors.NonFiniteLossError` of a minibatch, with the advice that fits
    its cause: non-finite rewards or observations come from the env, not from the learning rate.

    :param loss_value: The loss
    :param update: The number of the update that was refused
    :param model: The model
    :param replay_data: The minibatch
    :return: The message
    """
    start = (
        f"PaperDQN: the loss became {loss_value} at update {update} (agent step {model.num_timesteps}); "
        "the weights were not updated. "
    )
    if not th.isfinite(replay_data.rewards).all():
        return start + "The minibatch holds non-finite rewards: check the env's rewards (the learning rate is not the cause)."
    observations = [replay_data.observations, replay_data.next_observations]
    tensors = [part for item in observations for part in (item.values() if isinstance(item, dict) else [item])]
    if any(tensor.is_floating_point() and not th.isfinite(tensor).all() for tensor in tensors):
        return start + "The minibatch holds non-finite observations: check the env's observations."
    return start + "Lower the learning rate, enable max_grad_norm or loss='huber', or check the rewards."


#: Private helpers that moved out of this module, by name: (module, new name). Importing them from here warns.
_MOVED = {
    "_load_failure": ("sb3_dqn_paper.file_checks", "load_failure_message"),
    "_is_whole_number": ("sb3_dqn_paper.arguments", "_is_whole_number"),
    "_check_counts": ("sb3_dqn_paper.arguments", "_check_counts"),
    "_check_train_freq": ("sb3_dqn_paper.arguments", "_check_train_freq"),
    "_check_net_arch": ("sb3_dqn_paper.arguments", "_check_net_arch"),
    "_check_frame_stack_axis": ("sb3_dqn_paper.arguments", "_check_frame_stack_axis"),
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        module, new_name = _MOVED[name]
        warnings.warn(f"sb3_dqn_paper.paper_dqn.{name} moved to {module}.{new_name}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), new_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
