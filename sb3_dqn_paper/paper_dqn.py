import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import get_parameters_by_name, polyak_update
from stable_baselines3.dqn.policies import QNetwork
from torch.nn import functional as F

from sb3_dqn_paper.arguments import TrainingChecksMixin, check_env_spaces, check_paper_dqn_arguments
from sb3_dqn_paper.atari import make_env_from_id
from sb3_dqn_paper.buffer_setup import setup_replay_buffer
from sb3_dqn_paper.denormals import FlushDenormalsMixin
from sb3_dqn_paper.errors import NonFiniteLossError
from sb3_dqn_paper.exploration import PAPER_EXPLORATION_STEPS, PAPER_FINAL_EPS, PAPER_INITIAL_EPS, linear_epsilon
from sb3_dqn_paper.fast_update import FastUpdate
from sb3_dqn_paper.model_files import ModelFilesMixin
from sb3_dqn_paper.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDQNPolicy, paper_policy_kwargs
from sb3_dqn_paper.precision import autocast
from sb3_dqn_paper.rmsprop import DEEPMIND_LR

SelfDQN = TypeVar("SelfDQN", bound="PaperDQN")

#: Loss functions by name: the paper's squared error, and the Huber loss of the Nature paper.
LOSSES = {"mse": F.mse_loss, "huber": F.smooth_l1_loss}


class PaperDQN(ModelFilesMixin, TrainingChecksMixin, FlushDenormalsMixin, OffPolicyAlgorithm):
    """
    Deep Q-Network as in the 2013 paper: no target network, squared-error loss, RMSProp, one update per step.

    Paper: https://arxiv.org/abs/1312.5602
    Default hyperparameters are the paper's where it states one, else those of DeepMind's released code
    (learning rate, gamma, learning_starts); the faithfulness table in ``docs/index.md`` names each source.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function
        of the current progress remaining (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts
    :param batch_size: Minibatch size for each gradient update
    :param tau: the soft update coefficient ("Polyak update", between 0 and 1) default 1 for hard update
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps. Alternatively pass a tuple of frequency and unit
        like ``(5, "step")`` or ``(2, "episode")``.
    :param gradient_steps: How many gradient steps to do after each rollout (see ``train_freq``)
        Set to ``-1`` means to do as many gradient steps as steps done in the environment
        during the rollout.
    :param replay_buffer_class: Replay buffer class to use (for instance ``HerReplayBuffer``).
        If ``None``, it will be automatically selected.
        (:class:`~sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer` for stacks of image frames)
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation.
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
        at a cost of more complexity.
        See https://github.com/DLR-RM/stable-baselines3/issues/37#issuecomment-637501195
    :param n_steps: When n_step > 1, uses n-step return (with the NStepReplayBuffer) when updating the Q-value network.
        Note: it is only used when ``replay_buffer_class`` is ``None``, and is not supported for Dict
        observation spaces yet. When passing a custom ``replay_buffer_class``, configure it directly
        with ``replay_buffer_kwargs={"n_steps": ..., "gamma": ...}`` instead.
    :param target_update_interval: update the target network every ``target_update_interval``
        environment steps. ``None`` (the paper): no target network, the TD target uses the online weights
    :param exploration_steps: agent steps over which epsilon falls linearly (the paper: "the first million frames", as steps)
    :param exploration_initial_eps: initial value of random action probability
    :param exploration_final_eps: final value of random action probability
    :param max_grad_norm: The maximum value for the gradient clipping; ``None`` (the paper) for no clipping
    :param loss: ``"mse"`` (the paper's squared error) or ``"huber"`` (the Nature paper's error clipping)
    :param td_forward: ``"separate"``, ``"batched"`` or ``"auto"``: see :class:`~sb3_dqn_paper.fast_update.FastUpdate`
    :param precision: ``"fp32"`` or ``"bf16"`` (forward and backward in bf16 autocast, see :mod:`sb3_dqn_paper.precision`)
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation. See :ref:`dqn_policies`
        (without ``optimizer_class``: :class:`~sb3_dqn_paper.rmsprop.CenteredRMSprop`, updated by ``optimizer_kwargs``)
    :param verbose: Verbosity level: 0 for no output, 1 for info messages (such as device or wrappers used), 2 for
        debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    q_net: QNetwork
    q_net_target: QNetwork | None
    policy: PaperDQNPolicy

    def __init__(
        self,
        policy: str | type[PaperDQNPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = DEEPMIND_LR,
        buffer_size: int = 1_000_000,  # 1e6
        learning_starts: int = 50_000,
        batch_size: int = 32,
        tau: float = 1.0,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = -1,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        target_update_interval: int | None = None,
        exploration_steps: int = PAPER_EXPLORATION_STEPS,
        exploration_initial_eps: float = PAPER_INITIAL_EPS,
        exploration_final_eps: float = PAPER_FINAL_EPS,
        max_grad_norm: float | None = None,
        loss: str = "mse",
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
        check_paper_dqn_arguments(**locals())
        if isinstance(env, str):
            env = make_env_from_id(env, verbose)
        if env is not None:
            check_env_spaces(policy, env, policy_kwargs)
        # The paper's optimizer, RMSProp, unless the policy_kwargs name another; a target network only if asked
        policy_kwargs = paper_policy_kwargs(policy_kwargs, target_update_interval is not None, batch_size)

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
            action_noise=None,  # No action noise
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
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

        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.exploration_steps = exploration_steps
        self.target_update_interval = target_update_interval
        # For updating the target network with multiple envs:
        self._n_calls = 0
        self.max_grad_norm = max_grad_norm
        self.loss = loss
        self.td_forward = td_forward
        self.precision = precision
        # "epsilon" for the epsilon-greedy exploration
        self.exploration_rate = exploration_initial_eps
        self._check_buffer_memory = _init_setup_model

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        setup_replay_buffer(self)
        super()._setup_model()
        self._create_aliases()
        if self.q_net_target is not None:
            # Copy running stats, see GH issue #996
            self.batch_norm_stats = get_parameters_by_name(self.q_net, ["running_"])
            self.batch_norm_stats_target = get_parameters_by_name(self.q_net_target, ["running_"])

        if self.n_envs > 1 and self.target_update_interval is not None:
            if self.n_envs > self.target_update_interval:
                warnings.warn(
                    "The number of environments used is greater than the target network "
                    f"update interval ({self.n_envs} > {self.target_update_interval}), "
                    "therefore the target network will be updated after each call to env.step() "
                    f"which corresponds to {self.n_envs} steps."
                )
        self.fast_update = FastUpdate(self.policy, self.device, self.td_forward, self.precision)

    def _create_aliases(self) -> None:
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target

    def _on_step(self) -> None:
        """
        Update the exploration rate and target network if needed.
        This method is called in ``collect_rollouts()`` after each step in the environment.
        """
        self._n_calls += 1
        # Account for multiple environments
        # each call to step() corresponds to n_envs transitions
        if self.target_update_interval is not None and self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            polyak_update(self.q_net.parameters(), self.q_net_target.parameters(), self.tau)
            # Copy running stats, see GH issue #996
            polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self.exploration_rate = linear_epsilon(
            self.num_timesteps, self.exploration_initial_eps, self.exploration_final_eps, self.exploration_steps
        )
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update learning rate according to schedule
        self._update_learning_rate(self.policy.optimizer)
        # The paper has no target network: the TD target comes from the online weights, under no_grad
        target_net = self.q_net if self.q_net_target is None else self.q_net_target

        losses = []
        for _ in range(gradient_steps):
            # Sample replay buffer
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            # For n-step replay, discount factor is gamma**n_steps (when no early termination)
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma

            # Current Q-values (with gradient) and next Q-values (without), as fp32, in bf16 autocast if asked
            with autocast(self.precision, self.device):
                current_q_values, next_q_values = self.fast_update.minibatch_q_values(
                    self.q_net, target_net, replay_data.observations, replay_data.next_observations
                )
            with th.no_grad():
                # Follow greedy policy: use the one with the highest value
                next_q_values, _ = next_q_values.max(dim=1)
                # Avoid potential broadcast issue
                next_q_values = next_q_values.reshape(-1, 1)
                # 1-step TD target
                target_q_values = replay_data.rewards + (1 - replay_data.dones) * discounts * next_q_values

            # Retrieve the q-values for the actions from the replay buffer
            current_q_values = th.gather(current_q_values, dim=1, index=replay_data.actions.long())

            # The paper's squared error, or the Huber loss (loss="huber")
            loss = LOSSES[self.loss](current_q_values, target_q_values)
            self.fast_update.start_loss_read(loss)

            # Optimize the policy
            self.policy.optimizer.zero_grad()
            loss.backward()
            losses.append(self.fast_update.finish_loss_read())
            # A non-finite loss stops training before its gradient reaches the weights
            if not np.isfinite(losses[-1]):
                raise NonFiniteLossError.for_minibatch(losses[-1], self._n_updates + len(losses), self, replay_data)
            # Clip gradient norm
            if self.max_grad_norm is not None:
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()

        # Increase update counter
        self._n_updates += gradient_steps

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        Overrides the base_class predict function to include epsilon-greedy exploration.

        :param observation: the input observation
        :param state: The last states (can be None, used in recurrent policies)
        :param episode_start: The last masks (can be None, used in recurrent policies)
        :param deterministic: Whether or not to return deterministic actions.
        :return: the model's action and the next state
            (used in recurrent policies)
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
            # The greedy action without policy.predict's per-call overhead where that gives the same action
            action = self.fast_update.greedy_actions(self.q_net, observation)
            if action is None:
                action, state = self.policy.predict(observation, state, episode_start, deterministic)
        return action, state

    def learn(
        self: SelfDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "PaperDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDQN:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target", "fast_update", "_check_buffer_memory"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "policy.optimizer"]

        return state_dicts, []
