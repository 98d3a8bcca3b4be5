"""
PaperDQN's fast update path computes what the plain update computes.

The reference is Algorithm 1's update written the plain way: the TD target from a forward of the online (or
target) network over the next observations under ``no_grad``, a second forward over the observations, the MSE
loss, backward, one CenteredRMSprop step; every network in SB3's default layout and preprocessing.
"""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.envs import FakeImageEnv, SimpleMultiObsEnv
from stable_baselines3.common.preprocessing import preprocess_obs
from torch.nn import functional as F
from updates import train_on

from sb3_dqn_paper.errors import InvalidArgumentError, NonFiniteLossError
from sb3_dqn_paper.fast_update import QNetworkInput, fastest_input_copy, has_mode_dependent_layers, prefers_channels_last
from sb3_dqn_paper.paper_dqn import PaperDQN

th.set_num_threads(1)

BATCH = 32


def image_env() -> FakeImageEnv:
    # 84x84x4 channel-first uint8 frames: the paper's input, so PaperCNN and its channels-last path are used
    env = FakeImageEnv(screen_height=84, screen_width=84, n_channels=4, discrete=True, channel_first=True)
    env.observation_space.seed(0)  # its frames come from this space's generator, which env seeding leaves alone
    return env


def make_model(env_kind: str, target_update_interval: int | None = None, **kwargs) -> PaperDQN:
    if env_kind == "image":
        env, policy = image_env(), "CnnPolicy"
    else:
        env, policy = gym.make("CartPole-v1"), "MlpPolicy"
    kwargs.setdefault("learning_starts", 100)
    return PaperDQN(
        policy,
        env,
        buffer_size=1_000,
        target_update_interval=target_update_interval,
        seed=0,
        device="cpu",
        **kwargs,
    )


def filled(model: PaperDQN, steps: int = 100) -> PaperDQN:
    """Fill the replay buffer with ``steps`` random transitions (no update: learning_starts is not reached)."""
    assert model.learning_starts >= steps
    model.learn(steps)
    return model


def plain_network(q_net: th.nn.Module) -> th.nn.Module:
    """A copy of ``q_net`` in PyTorch's default memory layout, for the reference computation."""
    return copy.deepcopy(q_net).to(memory_format=th.contiguous_format)


def reference_loss(model: PaperDQN, q_net: th.nn.Module, target_net: th.nn.Module | None, data) -> th.Tensor:
    """The plain computation: two forwards through SB3's QNetwork.forward (preprocess_obs included), MSE."""
    with th.no_grad():
        next_q = (q_net if target_net is None else target_net)(data.next_observations)
        target = data.rewards + (1.0 - data.dones) * model.gamma * next_q.max(dim=1).values.reshape(-1, 1)
    current = q_net(data.observations).gather(1, data.actions.long())
    return F.mse_loss(current, target)


def sample(model: PaperDQN, seed: int = 1):
    np.random.seed(seed)  # SB3's ReplayBuffer samples with np.random
    return model.replay_buffer.sample(BATCH)


@pytest.mark.parametrize("env_kind", ["image", "vector"])
@pytest.mark.parametrize(
    "td_forward, target_update_interval", [("separate", None), ("batched", None), ("separate", 500), ("auto", None)]
)
def test_one_update_same_loss_and_gradients(env_kind, td_forward, target_update_interval):
    model = filled(make_model(env_kind, target_update_interval, td_forward=td_forward))
    if env_kind == "image":
        assert model.fast_update.q_input is not None and model.fast_update.q_input.channels_last
    assert model.fast_update.batched == (td_forward == "batched")
    q_ref = plain_network(model.q_net)
    target_ref = None if model.q_net_target is None else plain_network(model.q_net_target)
    data = sample(model)

    loss = train_on(model, data)  # PaperDQN.train on this minibatch; .grad keeps its gradients
    expected = reference_loss(model, q_ref, target_ref, data)
    expected.backward()

    assert loss == pytest.approx(expected.item(), rel=1e-6, abs=1e-7)
    names = [name for name, _ in model.q_net.named_parameters()]
    for name, fast, plain in zip(names, model.q_net.parameters(), q_ref.parameters(), strict=True):
        assert fast.grad is not None and plain.grad is not None, name
        assert fast.grad.abs().max() > 0, f"{name}: no gradient reached it"
        th.testing.assert_close(fast.grad, plain.grad, rtol=1e-5, atol=1e-7, msg=lambda m, name=name: f"{name}: {m}")
    if target_ref is not None:
        assert all(p.grad is None for p in model.q_net_target.parameters())


@pytest.mark.parametrize("env_kind", ["image", "vector"])
def test_train_step_matches_reference_step(env_kind):
    """A whole ``train(1)`` call: same minibatch, same optimizer step, same weights afterwards."""
    model = filled(make_model(env_kind))
    q_ref = plain_network(model.q_net)
    optimizer_ref = type(model.policy.optimizer)(q_ref.parameters(), **model.policy.optimizer.defaults)
    for round_ in range(3):
        data = sample(model, seed=round_)
        loss = reference_loss(model, q_ref, None, data)
        optimizer_ref.zero_grad()
        loss.backward()
        optimizer_ref.step()
        np.random.seed(round_)
        model.train(gradient_steps=1, batch_size=BATCH)
    for fast, plain in zip(model.q_net.parameters(), q_ref.parameters(), strict=True):
        th.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-7)
    assert model._n_updates == 3


class ReferencePaperDQN(PaperDQN):
    """PaperDQN with the plain update of the project's first version (no fast path at all)."""

    def _setup_model(self) -> None:
        super()._setup_model()
        self.policy.to(memory_format=th.contiguous_format)
        self.fast_update.q_input = None
        self.fast_update.batched = False

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            loss = reference_loss(self, self.q_net, self.q_net_target, data)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/loss", np.mean(losses))


def train_pair(env_kind: str, steps: int, **kwargs) -> tuple[PaperDQN, PaperDQN]:
    models = []
    for cls in (PaperDQN, ReferencePaperDQN):
        env = image_env() if env_kind == "image" else gym.make("CartPole-v1")
        policy = "CnnPolicy" if env_kind == "image" else "MlpPolicy"
        model = cls(policy, env, buffer_size=2_000, learning_starts=50, seed=0, device="cpu", **kwargs)
        model.learn(steps)
        models.append(model)
    return models[0], models[1]


def test_learning_run_unchanged_on_vectors():
    """300 CartPole updates with exploration: the fast path's arithmetic on vectors is SB3's, so the runs are equal."""
    fast, reference = train_pair("vector", 350, exploration_steps=300, learning_rate=1e-3)
    assert fast._n_updates == reference._n_updates == 300
    for a, b in zip(fast.q_net.parameters(), reference.q_net.parameters(), strict=True):
        th.testing.assert_close(a, b, rtol=1e-6, atol=1e-8)
    assert fast.logger.name_to_value["train/loss"] == pytest.approx(reference.logger.name_to_value["train/loss"], rel=1e-6)


def test_learning_run_close_on_images():
    """20 updates of PaperCNN on frames: channels-last only reorders float sums, so the weights stay within 1e-5."""
    fast, reference = train_pair("image", 70, exploration_steps=1)
    assert fast._n_updates == reference._n_updates == 20
    for a, b in zip(fast.q_net.parameters(), reference.q_net.parameters(), strict=True):
        th.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("env_kind", ["image", "vector"])
def test_float_input_is_bit_identical_to_sb3_preprocessing(env_kind):
    model = filled(make_model(env_kind))
    observations = sample(model).observations
    reference = preprocess_obs(observations, model.observation_space, normalize_images=True)
    for channels_last, input_copy in [(False, "auto"), (True, "transpose"), (True, "per_channel"), (True, "auto")]:
        converter = QNetworkInput(model.observation_space, True, channels_last=channels_last, input_copy=input_copy)
        converted = converter.float_input(observations, "observations")
        assert th.equal(converted, reference)
        assert converted.is_contiguous(
            memory_format=th.channels_last if channels_last and env_kind == "image" else th.contiguous_format
        )
        # The buffer is reused: same storage on the next call
        assert converter.float_input(observations, "observations").data_ptr() == converted.data_ptr()
        both = converter.stacked(observations, observations.flip(0))
        assert th.equal(both[:BATCH], reference)
        assert th.equal(both[BATCH:], preprocess_obs(observations.flip(0), model.observation_space))
        # a way is chosen only for uint8 frames into a channels-last buffer, once per shape, and "auto" picks one
        expected = {} if not channels_last or env_kind == "vector" else {tuple(observations.shape): input_copy}
        if input_copy == "auto" and expected:
            assert converter.input_copies[tuple(observations.shape)] in ("transpose", "per_channel")
        else:
            assert converter.input_copies == expected


def test_fastest_input_copy_names_a_way_and_unknown_ways_are_refused():
    frames = th.randint(0, 256, (8, 4, 84, 84), dtype=th.uint8)
    buffer = th.empty(frames.shape, dtype=th.float32, memory_format=th.channels_last)
    assert fastest_input_copy(buffer, frames, repeats=2) in ("transpose", "per_channel")
    assert th.equal(buffer, frames.float())  # the timed copies wrote the frames
    with pytest.raises(InvalidArgumentError, match="input_copy must be one of auto, transpose, per_channel, got 'nchw'"):
        QNetworkInput(spaces.Box(0, 255, (4, 84, 84), np.uint8), True, channels_last=True, input_copy="nchw")


def test_non_finite_loss_stops_before_the_weights_change():
    model = filled(make_model("image"))
    model.train(gradient_steps=1, batch_size=BATCH)  # creates the optimizer state
    weights = [p.detach().clone() for p in model.policy.parameters()]
    state = copy.deepcopy(model.policy.optimizer.state_dict())
    model.replay_buffer.rewards[:] = np.nan
    with pytest.raises(NonFiniteLossError, match="at update 2"):
        model.train(gradient_steps=1, batch_size=BATCH)
    for before, after in zip(weights, model.policy.parameters(), strict=True):
        assert th.equal(before, after)
    for key, value in model.policy.optimizer.state_dict()["state"].items():
        for name, tensor in value.items():
            assert th.equal(tensor, state["state"][key][name]), name


def test_bad_td_forward_is_refused():
    with pytest.raises(ValueError, match="td_forward must be one of"):
        make_model("vector", td_forward="fused")
    with pytest.raises(ValueError, match="needs target_update_interval=None"):
        make_model("vector", target_update_interval=100, td_forward="batched")


def test_dict_observations_use_the_plain_forward():
    """Dict observations have no fast input path: 'auto' falls back to SB3's forward, 'batched' is refused."""
    model = PaperDQN("MultiInputPolicy", SimpleMultiObsEnv(), buffer_size=500, learning_starts=50, seed=0, device="cpu")
    assert model.fast_update.q_input is None and not model.fast_update.batched
    model.learn(60)
    assert model._n_updates == 10
    with pytest.raises(InvalidArgumentError, match="td_forward='batched' needs no target network, a SB3 QNetwork on Box"):
        PaperDQN("MultiInputPolicy", SimpleMultiObsEnv(), td_forward="batched", device="cpu")


def test_layout_choices():
    cnn = make_model("image")
    mlp = make_model("vector")
    assert prefers_channels_last(cnn.q_net, th.device("cpu"))
    assert not prefers_channels_last(cnn.q_net, th.device("cuda"))
    assert not prefers_channels_last(mlp.q_net, th.device("cpu"))
    assert cnn.q_net.features_extractor.cnn[0].weight.is_contiguous(memory_format=th.channels_last)
    assert not has_mode_dependent_layers(cnn.q_net)
    assert has_mode_dependent_layers(th.nn.Sequential(th.nn.Linear(2, 2), th.nn.Dropout()))


def test_save_load_keeps_fast_path(tmp_path):
    model = filled(make_model("image"))
    model.train(gradient_steps=1, batch_size=BATCH)
    observation = model.replay_buffer.sample(4).observations  # works for SB3's buffer and FrameStackReplayBuffer
    expected = model.q_net(observation).detach()
    model.save(tmp_path / "model.zip")
    loaded = PaperDQN.load(tmp_path / "model.zip", env=image_env(), device="cpu")
    assert loaded.fast_update.q_input is not None
    th.testing.assert_close(loaded.q_net(observation), expected, rtol=0, atol=0)


@pytest.mark.parametrize("env_kind", ["image", "vector"])
def test_greedy_acting_matches_sb3_predict(env_kind):
    """PaperDQN.predict's greedy path skips SB3's policy.predict but picks the same actions, single and batched."""
    model = make_model(env_kind)
    space = model.observation_space
    space.seed(7)
    observations = np.stack([space.sample() for _ in range(64)])
    assert model.fast_update.greedy_input is not None
    single = np.array([model.predict(obs, deterministic=True)[0] for obs in observations])
    reference = np.array([model.policy.predict(obs, deterministic=True)[0] for obs in observations])
    np.testing.assert_array_equal(single, reference)
    batched, _ = model.predict(observations, deterministic=True)
    np.testing.assert_array_equal(batched, model.policy.predict(observations, deterministic=True)[0])
    assert single[0].shape == () and batched.shape == (64,)


def test_greedy_acting_falls_back_for_other_observation_layouts():
    """A channel-last image (SB3's predict transposes it) is left to policy.predict."""
    model = make_model("image")
    obs = model.observation_space.sample()
    channel_last = np.transpose(obs, (1, 2, 0))
    assert model.fast_update.greedy_input.greedy_actions(model.q_net, channel_last) is None
    assert model.fast_update.greedy_actions(model.q_net, channel_last) is None
    action, _ = model.predict(channel_last, deterministic=True)
    assert action == model.policy.predict(obs, deterministic=True)[0]


def test_fast_q_values_are_q_net_s():
    """FastUpdate.q_values gives the values of q_net's own forward."""
    model = filled(make_model("image"))
    observations = sample(model).observations
    values = model.fast_update.q_values(model.q_net, observations)
    th.testing.assert_close(values, plain_network(model.q_net)(observations), rtol=1e-6, atol=1e-7)
