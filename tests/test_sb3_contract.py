"""
Stable-Baselines3's public contract for DQN, checked against PaperDQN.

SB3's own test files are not in the installed wheel, so these tests are written here against the same contract as
the DQN-selected tests of SB3's ``test_run``, ``test_cnn``, ``test_deterministic``, ``test_predict``,
``test_callbacks``, ``test_tensorboard``, ``test_identity``, ``test_train_eval_mode``, ``test_custom_policy`` and
``test_save_load``: what a user of ``stable_baselines3.DQN`` relies on must hold for ``PaperDQN``. Small envs and
budgets keep the module under a minute.

Expected differences from SB3's ``DQN`` (each is the 2013 paper's choice or an explicit refusal, and is checked below
so that a change is noticed):

1. **No target network by default** (``target_update_interval=None``, the paper's TD target uses the online
   weights): ``model.q_net_target`` and ``model.policy.q_net_target`` are ``None``. Code that reads them (SB3's
   ``test_train_eval_mode.py::test_dqn_train_with_batch_norm``, ``test_save_load``'s parameter lists) needs
   ``target_update_interval=C``, which adds the Nature paper's target network with SB3's semantics (``tau``, batch-norm
   statistics copied at each update; ``tau=0`` allowed).
2. **``target_update_interval`` counts agent steps over all envs** (DeepMind's convention), not calls of ``env.step``
   of the ``VecEnv`` as in SB3 (which divides the interval by ``n_envs`` and warns "The number of environments used is
   greater than the target network update interval"). PaperDQN does not warn: the target is updated once at least
   ``C`` agent steps have passed, i.e. every ``max(1, ceil(C / n_envs))`` env steps.
3. **Exploration is scheduled in agent steps** (``exploration_steps``, the paper's first million frames), not as a
   fraction of the budget: SB3's ``exploration_fraction`` argument does not exist and is refused as an unexpected
   keyword.
4. **``gradient_steps=-1`` is the default** (one update per collected agent step, Algorithm 1) where SB3's DQN has
   ``gradient_steps=1`` with ``train_freq=4``; SB3's default optimizer (Adam) is replaced by centred RMSProp.
5. **Settings SB3 accepts but that learn nothing are refused**: ``gradient_steps=0``, ``train_freq=0``, a learning
   rate of 0 (as a number or schedule), ``nan`` counts, with an ``InvalidArgumentError`` (a ``ValueError``).
"""

import io
import pathlib
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import (
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize, VecTransposeImage
from torch import nn

from sb3_dqn_paper import PaperDQN, paper_dqn
from sb3_dqn_paper.errors import InvalidArgumentError

SMALL: dict[str, Any] = dict(buffer_size=500, learning_starts=50, batch_size=16, exploration_steps=100)


# --- test_run ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("train_freq", [1, 4, (1, "episode")])
def test_run_learns_with_sb3_arguments(train_freq: Any) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", train_freq=train_freq, policy_kwargs=dict(net_arch=[32]), seed=0, **SMALL)
    model.learn(200)
    assert model.num_timesteps >= 200
    assert model._n_updates > 0


def test_run_gradient_steps_minus_one_does_one_update_per_collected_transition() -> None:
    # SB3 test_run: "perform as many gradient_steps as transitions collected"
    env = make_vec_env("CartPole-v1", n_envs=2)
    model = PaperDQN("MlpPolicy", env, learning_starts=0, buffer_size=1000, train_freq=3, gradient_steps=-1)
    model.learn(total_timesteps=3)
    assert model.logger.name_to_value["train/n_updates"] == 3 * env.num_envs


@pytest.mark.parametrize(("interval", "expected_syncs"), [(1, 20), (4, 10)])
def test_run_multi_env_target_updates_count_agent_steps(
    interval: int, expected_syncs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # expected difference 2: no warning; 2 envs x 20 env steps = 40 agent steps, a sync every max(interval, 2) of them
    with pytest.warns(UserWarning, match="The number of environments used is greater"):
        DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), buffer_size=100, target_update_interval=1)
    model = PaperDQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), target_update_interval=interval, tau=0.5, **SMALL)
    syncs = []
    original = paper_dqn.polyak_update
    monkeypatch.setattr(paper_dqn, "polyak_update", lambda *args: (syncs.append(args[-1]), original(*args)))
    model.learn(40)
    assert syncs.count(0.5) == expected_syncs  # each sync also copies the batch-norm statistics (tau 1.0)


def test_run_exploration_fraction_is_not_an_argument() -> None:
    # expected difference 3
    with pytest.raises(TypeError, match="exploration_fraction"):
        PaperDQN("MlpPolicy", "CartPole-v1", exploration_fraction=0.1)


def test_run_settings_that_learn_nothing_are_refused() -> None:
    # expected difference 5: SB3 accepts these and trains nothing
    DQN("MlpPolicy", "CartPole-v1", gradient_steps=0, buffer_size=100)
    for kwargs in (dict(gradient_steps=0), dict(train_freq=0), dict(learning_rate=0.0)):
        with pytest.raises(InvalidArgumentError):
            PaperDQN("MlpPolicy", "CartPole-v1", **kwargs)


# --- test_cnn ------------------------------------------------------------------------------------------------------


def image_env(channel_first: bool = False) -> FakeImageEnv:
    return FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=True, channel_first=channel_first)


def test_cnn_save_load_gives_the_same_predictions(tmp_path: pathlib.Path) -> None:
    model = PaperDQN("CnnPolicy", image_env(), seed=0, **SMALL)
    model.learn(60)
    obs = image_env().reset(seed=1)[0]
    action, _ = model.predict(obs, deterministic=True)
    q_values = model.q_net(model.policy.obs_to_tensor(obs)[0])
    model.save(tmp_path / "cnn.zip")
    loaded = PaperDQN.load(tmp_path / "cnn.zip")
    assert loaded.predict(obs, deterministic=True)[0] == action
    assert th.equal(loaded.q_net(loaded.policy.obs_to_tensor(obs)[0]), q_values)


@pytest.mark.parametrize("normalize_images", [True, False])
def test_cnn_image_like_input(normalize_images: bool) -> None:
    # SB3 test_cnn.py::test_image_like_input: float "images" are allowed with normalize_images=False
    env = VecNormalize(VecTransposeImage(DummyVecEnv([image_env])))  # float observations, channel-first
    dtype, low, high = (np.uint8, 0, 255) if normalize_images else (np.float32, -np.inf, np.inf)
    env.observation_space = spaces.Box(low=low, high=high, shape=env.observation_space.shape, dtype=dtype)
    model = PaperDQN("CnnPolicy", env, policy_kwargs=dict(normalize_images=normalize_images), seed=1, **SMALL)
    model.learn(60)
    assert model.q_net.normalize_images is normalize_images
    assert model._n_updates > 0


# --- test_deterministic --------------------------------------------------------------------------------------------


def test_deterministic_same_seed_same_run() -> None:
    results = []
    for _ in range(2):
        model = PaperDQN("MlpPolicy", "CartPole-v1", seed=42, policy_kwargs=dict(net_arch=[32]), device="cpu", **SMALL)
        model.learn(150)
        obs = model.env.reset()
        rewards = []
        for _ in range(20):
            action, _ = model.predict(obs)
            obs, reward, _, _ = model.env.step(action)
            rewards.append(float(reward[0]))
        results.append((rewards, [p.detach().clone() for p in model.policy.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(th.equal(a, b) for a, b in zip(results[0][1], results[1][1], strict=True))


# --- test_predict --------------------------------------------------------------------------------------------------


def test_predict_single_and_vectorized_observations() -> None:
    env = gym.make("CartPole-v1")
    model = PaperDQN("MlpPolicy", env, buffer_size=100)
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action)) and np.shape(action) == () and state is None
    vec_env = make_vec_env("CartPole-v1", n_envs=3)
    actions, _ = model.predict(vec_env.reset(), deterministic=True)
    assert actions.shape == (3,)
    actions, _ = model.predict(vec_env.reset(), deterministic=False)  # epsilon-greedy, epsilon 1 before training
    assert actions.shape == (3,)
    with pytest.raises(ValueError):
        model.predict(np.zeros(7, dtype=np.float32))


# --- test_callbacks ------------------------------------------------------------------------------------------------


def test_callbacks_sb3_callbacks_run(tmp_path: pathlib.Path) -> None:
    eval_env = make_vec_env("CartPole-v1", n_envs=1)
    stop = StopTrainingOnRewardThreshold(reward_threshold=1e9, verbose=0)
    callbacks = CallbackList(
        [
            EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=100, n_eval_episodes=2, log_path=str(tmp_path)),
            CheckpointCallback(save_freq=100, save_path=str(tmp_path / "ckpt"), name_prefix="rl_model"),
        ]
    )
    model = PaperDQN("MlpPolicy", "CartPole-v1", **SMALL)
    model.learn(200, callback=callbacks)
    assert (tmp_path / "evaluations.npz").exists()
    assert sorted(path.name for path in (tmp_path / "ckpt").iterdir()) == ["rl_model_100_steps.zip", "rl_model_200_steps.zip"]
    assert isinstance(PaperDQN.load(tmp_path / "ckpt" / "rl_model_200_steps.zip"), PaperDQN)
    # a callback that returns False stops learn(): SB3's StopTrainingOnMaxEpisodes
    model.learn(10_000, callback=StopTrainingOnMaxEpisodes(max_episodes=2))
    assert model.num_timesteps < 10_000


# --- test_tensorboard ----------------------------------------------------------------------------------------------


def test_tensorboard_log_folder_and_continuation(tmp_path: pathlib.Path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path), **SMALL)
    model.learn(60)
    model.learn(60, reset_num_timesteps=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["PaperDQN_1"]
    model.learn(60, tb_log_name="again")
    assert (tmp_path / "again_1").is_dir()


# --- test_identity -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_identity_discrete_is_learned() -> None:
    # SB3 test_identity: reward threshold 90 of 100 on IdentityEnv(10) (episodes of 100 steps)
    env = DummyVecEnv([lambda: Monitor(IdentityEnv(10))])
    model = PaperDQN(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        gamma=0.4,
        learning_starts=100,
        buffer_size=2000,
        exploration_steps=600,
        exploration_final_eps=0.02,
        policy_kwargs=dict(net_arch=[64], optimizer_class=th.optim.Adam),
        seed=3,
    )
    model.learn(1200)
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=3, deterministic=True)
    assert mean_reward >= 90


# --- test_train_eval_mode ------------------------------------------------------------------------------------------


class FlattenBatchNormDropoutExtractor(BaseFeaturesExtractor):
    """Flatten, batch norm and dropout: layers whose output depends on the training mode."""

    def __init__(self, observation_space: spaces.Box) -> None:
        super().__init__(observation_space, FlattenExtractor(observation_space).features_dim)
        self.flatten = nn.Flatten()
        self.batch_norm = nn.BatchNorm1d(self._features_dim)
        self.dropout = nn.Dropout(0.5)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.dropout(self.batch_norm(self.flatten(observations)))


def batch_norm_stats(model: PaperDQN) -> tuple[th.Tensor, ...]:
    online, target = model.q_net.features_extractor.batch_norm, model.q_net_target.features_extractor.batch_norm
    return tuple(x.detach().clone() for x in (online.bias, online.running_mean, target.bias, target.running_mean))


def test_train_with_batch_norm_and_tau_zero() -> None:
    # SB3 test_train_eval_mode.py::test_dqn_train_with_batch_norm, with a target network (expected difference 1)
    model = PaperDQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=[16, 16], features_extractor_class=FlattenBatchNormDropoutExtractor),
        learning_starts=0,
        buffer_size=500,
        seed=1,
        tau=0,
        target_update_interval=100,
    )
    bias, running_mean, target_bias, target_running_mean = batch_norm_stats(model)
    model.learn(200)
    bias_after, running_mean_after, target_bias_after, target_running_mean_after = batch_norm_stats(model)
    assert not th.isclose(bias, bias_after).all()
    assert not th.isclose(running_mean, running_mean_after).all()
    assert th.equal(target_bias, target_bias_after)  # tau=0: the target's weights never move
    assert not th.isclose(target_running_mean, target_running_mean_after).all()  # its batch-norm statistics are copied


def test_predict_is_deterministic_in_eval_mode() -> None:
    model = PaperDQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=[16], features_extractor_class=FlattenBatchNormDropoutExtractor),
        buffer_size=200,
        learning_starts=0,
        seed=1,
    )
    model.learn(64)
    obs = np.tile(model.env.reset(), (8, 1)) + np.linspace(0, 0.5, 8)[:, None].astype(np.float32)
    first, _ = model.predict(obs, deterministic=True)
    assert not model.policy.training  # predict switches to eval mode: dropout off, batch-norm running statistics
    assert all(np.array_equal(first, model.predict(obs, deterministic=True)[0]) for _ in range(5))
    assert model.q_net_target is None  # expected difference 1


# --- test_custom_policy --------------------------------------------------------------------------------------------


def test_custom_policy_net_arch_activation_and_optimizer() -> None:
    model = PaperDQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(
            net_arch=[12, 8],
            activation_fn=nn.Tanh,
            optimizer_class=th.optim.RMSprop,
            optimizer_kwargs=dict(eps=1e-5, alpha=0.99),
        ),
        **SMALL,
    )
    linears = [layer for layer in model.q_net.q_net if isinstance(layer, nn.Linear)]
    assert [layer.out_features for layer in linears] == [12, 8, 2]
    assert any(isinstance(layer, nn.Tanh) for layer in model.q_net.q_net)
    assert type(model.policy.optimizer) is th.optim.RMSprop
    assert model.policy.optimizer.defaults["eps"] == 1e-5
    model.learn(60)


# --- test_save_load ------------------------------------------------------------------------------------------------


def test_save_load_parameters_buffer_and_file_objects(tmp_path: pathlib.Path) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", seed=0, **SMALL)
    model.learn(100)
    params = {name: value.clone() for name, value in model.policy.state_dict().items()}
    # to a path, without suffix (SB3 appends .zip), and to a file object
    model.save(tmp_path / "model")
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    for source in (tmp_path / "model.zip", buffer):
        loaded = PaperDQN.load(source, env=make_vec_env("CartPole-v1"))
        assert loaded.num_timesteps == 100
        for name, value in loaded.policy.state_dict().items():
            assert th.equal(value, params[name]), name
        loaded.learn(20, reset_num_timesteps=False)
    # get/set_parameters round trip
    other = PaperDQN("MlpPolicy", "CartPole-v1", seed=5, **SMALL)
    other.set_parameters(model.get_parameters())
    for name, value in other.policy.state_dict().items():
        assert th.equal(value, params[name]), name
    # replay buffer
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    fresh = PaperDQN("MlpPolicy", "CartPole-v1", **SMALL)
    fresh.load_replay_buffer(tmp_path / "buffer.pkl")
    assert fresh.replay_buffer.size() == model.replay_buffer.size()
    assert np.array_equal(fresh.replay_buffer.observations, model.replay_buffer.observations)
