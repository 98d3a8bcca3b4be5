"""
PaperDQN's CUDA path against the plain computation: the update, the GPU frame store, the loss read-back, acting.

Every test takes a ``device``: ``"cpu"`` runs everywhere (it checks the test itself and the CPU path), ``"cuda"`` is
marked ``cuda`` and skipped where no CUDA device exists. ``python -m pytest -m cuda tests/test_cuda.py`` runs the CUDA
cases alone (``scripts/device_lease.sh`` does this on the device machine).

Two references of the update, on a copy of the same weights and the same minibatch:

- the plain computation on the same device in the same arithmetic: SB3's ``QNetwork.forward`` (its own preprocessing,
  PyTorch's default memory layout) under the same autocast and TF32 settings, a no-grad forward over the next
  observations, a forward over the observations, the MSE loss, its gradient. Bound ``SAME``: what is left is summation
  order and layout, and with bf16 or TF32 the rare rounding that this flips.
- the same, in float64 on the CPU (``FLOAT64``). fp32 without TF32 must match it closely; bf16 (8 significant bits)
  and TF32 (11, so bf16's bound covers it) only to within a loose bound that still catches any real mistake (a
  missing ``/ 255``, the wrong action gathered, a target that carries gradient: errors of order 1).

Errors are relative, in the 2-norm, per tensor: ``|x - ref| / |ref|``. The reduced-precision bounds are about 5 times
the largest error measured for bf16 on the CPU (autocast through oneDNN; 6 minibatches, 3 seeds): against the same
arithmetic 7e-5 (loss) and 6.5e-3 (gradients), against float64 2.2e-3 and 8.8e-2. The gradients of the first layers
lose the most: their sums over the whole minibatch cancel. The weight change of an optimizer step is compared with
the float64 step: CenteredRMSprop divides each gradient by the root of its running centered variance, which brings
small gradient entries (with the largest relative rounding errors) up to the size of the large ones, so its relative
error is larger than the gradient's (measured on the CPU after two steps: 1.1e-4 in fp32, 2.9e-2 in bf16). No CUDA
figure has been measured yet.
"""

import copy
import math
import warnings

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import FakeImageEnv
from torch.nn import functional as F
from updates import train_on

from sb3_dqn_paper.atari import make_paper_atari_env
from sb3_dqn_paper.errors import NonFiniteLossError
from sb3_dqn_paper.fast_update import LossReader
from sb3_dqn_paper.paper_dqn import PaperDQN
from sb3_dqn_paper.precision import autocast
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer

HAS_CUDA = th.cuda.is_available()
CUDA = pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")])
DEVICES = ["cpu", CUDA]
BATCH = 32

#: Relative tolerances (loss, gradients, weight change of one step); see the module docstring.
STRICT = {"loss": 1e-5, "grad": 1e-4, "step": 1e-3}
SAME = {"loss": 5e-4, "grad": 3e-2}
FLOAT64 = {"loss": 1e-2, "grad": 0.25, "step": 0.25}


@pytest.fixture(autouse=True)
def _restore_tf32():
    """Leave PyTorch's TF32 switches as they were (some tests turn them off)."""
    cudnn, matmul = th.backends.cudnn.allow_tf32, th.backends.cuda.matmul.allow_tf32
    yield
    th.backends.cudnn.allow_tf32, th.backends.cuda.matmul.allow_tf32 = cudnn, matmul


def image_env() -> FakeImageEnv:
    """84x84x4 channel-first uint8 frames: the paper's input and network."""
    env = FakeImageEnv(screen_height=84, screen_width=84, n_channels=4, discrete=True, channel_first=True)
    env.observation_space.seed(0)
    return env


def filled_model(device: str, **kwargs) -> PaperDQN:
    """A PaperDQN on ``device`` with 100 random transitions stored and no update taken."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="precision='bf16' on a CPU without")
        warnings.filterwarnings("ignore", message="FrameStackReplayBuffer: next_obs is not obs shifted")
        model = PaperDQN("CnnPolicy", image_env(), buffer_size=1_000, learning_starts=100, seed=0, device=device, **kwargs)
        model.learn(100)
    return model


def float64_copy(q_net: th.nn.Module) -> th.nn.Module:
    """The Q-network's weights in float64 on the CPU, in PyTorch's default memory layout."""
    return copy.deepcopy(q_net).to(device="cpu", dtype=th.float64, memory_format=th.contiguous_format)


def q_values64(q_net: th.nn.Module, observations: th.Tensor) -> th.Tensor:
    """Q-values of uint8 frames in float64: what SB3's QNetwork.forward computes (``obs / 255``, features, head)."""
    return q_net.q_net(q_net.features_extractor(observations.cpu().double() / 255.0))


def reference_loss(model: PaperDQN, q_net: th.nn.Module, data) -> th.Tensor:
    """Algorithm 1's loss, the plain way, in float64 on the CPU."""
    with th.no_grad():
        next_q = q_values64(q_net, data.next_observations)
        target = data.rewards.cpu().double() + (1.0 - data.dones.cpu().double()) * model.gamma * next_q.max(
            dim=1
        ).values.reshape(-1, 1)
    current = q_values64(q_net, data.observations).gather(1, data.actions.cpu().long())
    return F.mse_loss(current, target)


def relative_error(value: th.Tensor, reference: th.Tensor) -> float:
    """``|value - reference| / |reference|`` in the 2-norm, in float64 on the CPU."""
    value, reference = value.detach().cpu().double(), reference.detach().cpu().double()
    return float(th.linalg.vector_norm(value - reference) / th.linalg.vector_norm(reference))


def sample(model: PaperDQN, seed: int):
    np.random.seed(seed)  # the buffers sample with np.random
    return model.replay_buffer.sample(BATCH)


def plain_loss(model: PaperDQN, q_net: th.nn.Module, data) -> th.Tensor:
    """Algorithm 1's loss the plain way on the model's device and in its arithmetic: SB3's forward, autocast."""
    with autocast(model.precision, model.device):
        with th.no_grad():
            next_q = q_net(data.next_observations).float()
            target = data.rewards + (1.0 - data.dones) * model.gamma * next_q.max(dim=1).values.reshape(-1, 1)
        current = q_net(data.observations).float().gather(1, data.actions.long())
    return F.mse_loss(current, target)


def update_errors(model: PaperDQN, reference: str, seed: int = 1) -> dict[str, float]:
    """
    Relative errors of the loss of ``PaperDQN.train`` and of every gradient on one minibatch.

    :param model: A model with a filled buffer
    :param reference: ``"same"`` (the plain computation on the device) or ``"float64"`` (on the CPU)
    :param seed: Seed of the minibatch draw
    :return: Errors of the loss and of each parameter's gradient
    """
    data = sample(model, seed)
    if reference == "same":
        q_net = copy.deepcopy(model.q_net).to(memory_format=th.contiguous_format)
        expected = plain_loss(model, q_net, data)
    else:
        q_net = float64_copy(model.q_net)
        expected = reference_loss(model, q_net, data)
    loss = th.tensor(train_on(model, data), dtype=th.float64)  # PaperDQN.train; .grad keeps the gradients
    expected.backward()
    errors = {"loss": relative_error(loss, expected)}
    for (name, fast), plain in zip(model.q_net.named_parameters(), q_net.parameters(), strict=True):
        assert fast.grad is not None and fast.grad.device == model.device, name
        assert th.isfinite(fast.grad).all(), name
        errors[name] = relative_error(fast.grad, plain.grad)
    return errors


def tolerances(device: str, precision: str, tf32: bool, reference: str) -> dict[str, float]:
    """The tolerances of an arithmetic against a reference (see the module docstring)."""
    reduced = precision == "bf16" or (device == "cuda" and tf32)
    if not reduced:
        return STRICT
    return SAME if reference == "same" else FLOAT64


def set_tf32(tf32: bool) -> None:
    th.backends.cudnn.allow_tf32 = tf32
    th.backends.cuda.matmul.allow_tf32 = tf32


VARIANTS = [
    # (td_forward, precision, tf32): tf32=True is PyTorch's default for convolutions on CUDA, what training runs
    ("batched", "fp32", False),
    ("separate", "fp32", False),
    ("batched", "fp32", True),
    ("separate", "fp32", True),
    ("batched", "bf16", True),
    ("separate", "bf16", True),
]


UPDATE_CASES = [
    pytest.param(*case, marks=CUDA.marks) if case[0] == "cuda" else case
    for case in (
        (device, reference, *variant)
        for device in ("cpu", "cuda")
        for reference in ("same", "float64")
        for variant in VARIANTS
        if not (device == "cpu" and variant[1] == "fp32" and variant[2])  # TF32 is a CUDA mode
    )
]


@pytest.mark.parametrize("device, reference, td_forward, precision, tf32", UPDATE_CASES)
def test_one_update_matches_the_plain_computation(device, reference, td_forward, precision, tf32):
    set_tf32(tf32)
    model = filled_model(device, td_forward=td_forward, precision=precision)
    assert model.fast_update.batched == (td_forward == "batched")
    assert model.q_net.features_extractor.cnn[0].weight.device.type == device
    errors = update_errors(model, reference)
    tolerance = tolerances(device, precision, tf32, reference)
    assert errors["loss"] <= tolerance["loss"], errors
    for name, error in errors.items():
        if name != "loss":
            assert error <= tolerance["grad"], f"{name}: {error:.2e} > {tolerance['grad']:.0e} ({errors})"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_step_matches_the_float64_step(device, precision):
    """A whole ``train(1)``: the minibatch gathered on the device, the loss read back, the optimizer step there."""
    set_tf32(False)
    model = filled_model(device, precision=precision)
    reference = float64_copy(model.q_net)
    optimizer = type(model.policy.optimizer)(reference.parameters(), **model.policy.optimizer.defaults)
    before = [p.detach().cpu().double().clone() for p in model.q_net.parameters()]
    for round_ in range(2):
        data = sample(model, round_)
        optimizer.zero_grad()
        reference_loss(model, reference, data).backward()
        optimizer.step()
        np.random.seed(round_)
        model.train(gradient_steps=1, batch_size=BATCH)
    assert model._n_updates == 2
    tolerance = tolerances(device, precision, tf32=False, reference="float64")["step"]
    for (name, fast), plain, start in zip(model.q_net.named_parameters(), reference.parameters(), before, strict=True):
        assert fast.device == model.device
        change = relative_error(fast.detach().cpu().double() - start, plain.detach() - start)
        assert change <= tolerance, f"{name}: weight change off by {change:.2e} (tolerance {tolerance:.0e})"


def breakout_model(device: str, storage_device: str) -> PaperDQN:
    """PaperDQN on the paper's Breakout pipeline (2 envs) with 400 random transitions stored, no update taken."""
    env = make_paper_atari_env("BreakoutNoFrameskip-v4", n_envs=2, seed=0)
    model = PaperDQN(
        "CnnPolicy",
        env,
        buffer_size=1_000,
        learning_starts=10**6,
        replay_buffer_kwargs=dict(storage_device="cpu" if storage_device == "tensor" else storage_device),
        seed=0,
        device=device,
    )
    if storage_device == "tensor":  # the CUDA store's code path, on a CPU tensor
        model.replay_buffer.allocate()
        model.replay_buffer.frames = th.from_numpy(model.replay_buffer.frames)
    model.learn(400)
    env.close()
    return model


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_frame_store_on_the_device_samples_the_cpu_minibatch(device):
    """Frames kept on the device (gathered there) give the same minibatches as frames kept in host memory."""
    on_device = breakout_model(device, "tensor" if device == "cpu" else device)
    on_host = breakout_model(device, "cpu")
    ours, theirs = on_device.replay_buffer, on_host.replay_buffer
    assert isinstance(ours, FrameStackReplayBuffer) and ours.frames_are_tensor and not theirs.frames_are_tensor
    assert ours.frames.device.type == device
    # the same transitions went in (same seeds, random actions)
    np.testing.assert_array_equal(ours.frames.cpu().numpy(), theirs.frames)
    np.testing.assert_array_equal(ours.frame_index, theirs.frame_index)
    for seed in range(3):
        mine, reference = sample(on_device, seed), sample(on_host, seed)
        assert mine.observations.device == on_device.device
        for field in mine._fields:
            value, expected = getattr(mine, field), getattr(reference, field)
            if expected is None:  # SB3's optional fields (n-step discounts)
                assert value is None, field
            else:
                assert th.equal(value.cpu(), expected.cpu()), (seed, field)
        assert mine.observations.float().std() > 0  # real frames, not padding


@pytest.mark.parametrize("device", DEVICES)
def test_non_finite_loss_stops_before_the_weights_change(device):
    model = filled_model(device)
    model.train(gradient_steps=1, batch_size=BATCH)
    weights = [p.detach().clone() for p in model.policy.parameters()]
    model.replay_buffer.rewards[:] = np.nan
    with pytest.raises(NonFiniteLossError, match="at update 2"):
        model.train(gradient_steps=1, batch_size=BATCH)
    for before, after in zip(weights, model.policy.parameters(), strict=True):
        assert th.equal(before, after)


@pytest.mark.parametrize("device", DEVICES)
def test_loss_reader_returns_what_item_returns(device):
    generator = th.Generator(device=device).manual_seed(0)
    weights = th.randn(4096, 512, device=device, generator=generator, requires_grad=True)
    inputs = th.randn(512, 256, device=device, generator=generator)
    reader = LossReader(th.device(device))
    for scale in (1.0, 1e-30, float("inf"), float("nan")):
        loss = (weights @ inputs).square().mean() * scale
        reader.start(loss)
        loss.backward()  # queued behind the copy on CUDA; finish() must wait for the copy alone
        value = reader.finish()
        expected = loss.item()
        assert value == expected or (math.isnan(value) and math.isnan(expected)), (scale, value, expected)
        weights.grad = None


@pytest.mark.parametrize("device", DEVICES)
def test_greedy_acting_for_all_envs_matches_the_float64_argmax(device):
    """One forward on the device for a batch of observations (all envs at once) picks the float64 argmax."""
    set_tf32(False)
    model = filled_model(device)
    observations = sample(model, 3).observations  # (32, 4, 84, 84) uint8, on the device
    actions, _ = model.predict(observations.cpu().numpy(), deterministic=True)
    with th.no_grad():
        q_values = q_values64(float64_copy(model.q_net), observations)
    top2 = q_values.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-4 * q_values.abs().max()  # ties within rounding may go either way
    assert clear.sum() >= BATCH // 2
    np.testing.assert_array_equal(actions[clear.numpy()], q_values.argmax(dim=1).numpy()[clear.numpy()])


def test_cuda_marker_is_registered(request):
    """``pytest -m cuda`` selects by a registered marker (an unregistered one only warns, and a typo selects nothing)."""
    assert any(line.startswith("cuda:") for line in request.config.getini("markers"))
