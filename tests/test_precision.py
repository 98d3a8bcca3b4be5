"""
``precision="bf16"``: bf16 mixed precision of the update, fp32 everywhere else; refused where it cannot run; learns as
fp32 does (CartPole and a small image task).
"""

import warnings

import numpy as np
import pytest
import torch as th
from image_task import BrightSideEnv, greedy_accuracy
from stable_baselines3.common.buffers import ReplayBuffer
from test_learning import CARTPOLE_SETTINGS, cartpole_mean_return
from updates import train_on

from sb3_dqn_paper import PaperDQN, precision
from sb3_dqn_paper.errors import PaperDQNError, UnsupportedPrecisionError

th.set_num_threads(1)
# bf16 runs emulated (and slower) on a CPU without AVX512-BF16/AMX; the warning says so and is expected here
pytestmark = pytest.mark.filterwarnings("ignore:precision='bf16' on a CPU without:UserWarning")


def image_model(prec: str, **kwargs) -> PaperDQN:
    # the four frames are equal, not a frame stack: SB3's buffer stores them as they are
    kwargs = {
        "replay_buffer_class": ReplayBuffer,
        "buffer_size": 5_000,
        "learning_starts": 200,
        "exploration_steps": 300,
        "gamma": 0.5,
        **kwargs,
    }
    return PaperDQN("CnnPolicy", BrightSideEnv(), seed=0, device="cpu", precision=prec, **kwargs)


def test_unknown_precision_is_refused_before_building() -> None:
    with pytest.raises(UnsupportedPrecisionError, match=r"precision must be one of \('fp32', 'bf16'\), got 'fp16'"):
        PaperDQN("MlpPolicy", "CartPole-v1", precision="fp16")
    assert issubclass(UnsupportedPrecisionError, PaperDQNError) and issubclass(UnsupportedPrecisionError, ValueError)


def test_bf16_refused_on_a_gpu_without_bf16(monkeypatch) -> None:
    monkeypatch.setattr(th.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(th.cuda, "get_device_name", lambda device=None: "Tesla V100")
    with pytest.raises(UnsupportedPrecisionError, match="Tesla V100 has none"):
        precision.check_precision("bf16", th.device("cuda"))
    precision.check_precision("fp32", th.device("cuda"))  # fp32 runs anywhere


def test_bf16_refused_on_other_devices() -> None:
    with pytest.raises(UnsupportedPrecisionError, match="not on 'mps'"):
        precision.check_precision("bf16", th.device("mps"))


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_cpu_warns_only_when_emulated(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        precision.check_precision("bf16", th.device("cpu"))
    messages = [str(warning.message) for warning in caught]
    if native:
        assert messages == []
    else:
        assert len(messages) == 1 and "PyTorch emulates bf16 here, which is slower than fp32" in messages[0]


def test_cpu_isa_reports_flags_and_torch_capability() -> None:
    isa = precision.cpu_isa()
    assert set(isa["flags"]) <= set(precision.ISA_FLAGS)
    assert isa["torch_cpu_capability"] == th.backends.cpu.get_cpu_capability()
    assert isa["native_bf16"] == ("avx512_bf16" in isa["flags"] or "amx_bf16" in isa["flags"])


def test_bf16_loss_and_gradients_close_to_fp32() -> None:
    """Same weights, same minibatch: the bf16 loss is within 2 % of fp32's and the gradients point the same way."""
    fp32, bf16 = image_model("fp32"), image_model("bf16")
    bf16.policy.load_state_dict(fp32.policy.state_dict())
    fp32.learn(200)  # fills the buffer, no update yet
    np.random.seed(3)
    data = fp32.replay_buffer.sample(32)
    grads = {}
    for name, model in (("fp32", fp32), ("bf16", bf16)):
        loss = train_on(model, data)  # PaperDQN.train on this minibatch; .grad keeps its gradients
        grads[name] = (loss, th.cat([p.grad.flatten() for p in model.q_net.parameters()]))
    (loss32, grad32), (loss16, grad16) = grads["fp32"], grads["bf16"]
    assert loss16 == pytest.approx(loss32, rel=2e-2)
    assert th.nn.functional.cosine_similarity(grad32, grad16, dim=0) > 0.99
    assert (grad16 - grad32).norm() < 0.1 * grad32.norm()


def test_bf16_keeps_fp32_weights_optimizer_state_and_target() -> None:
    model = image_model("bf16", learning_starts=100)
    model.learn(110)
    assert model._n_updates == 10
    assert all(p.dtype == th.float32 for p in model.policy.parameters())
    states = [t for state in model.policy.optimizer.state.values() for t in state.values()]
    assert states and all(t.dtype == th.float32 for t in states)
    data = model.replay_buffer.sample(32)
    with precision.autocast("bf16", model.device):
        q_values = model.fast_update.minibatch_q_values(model.q_net, model.q_net, data.observations, data.next_observations)
    # train() computes the TD target and the loss from these, outside autocast: in fp32
    assert [values.dtype for values in q_values] == [th.float32, th.float32]


def test_fp32_is_unchanged_by_the_option() -> None:
    """precision='fp32' (the default) computes the loss and gradients of a model built without the argument."""
    settings = dict(replay_buffer_class=ReplayBuffer, buffer_size=5_000, learning_starts=200, exploration_steps=300, gamma=0.5)
    default = PaperDQN("CnnPolicy", BrightSideEnv(), seed=0, device="cpu", **settings)
    explicit = image_model("fp32")
    assert default.precision == "fp32"
    explicit.policy.load_state_dict(default.policy.state_dict())
    default.learn(200)
    np.random.seed(5)
    data = default.replay_buffer.sample(32)
    results = []
    for model in (default, explicit):
        loss = train_on(model, data)
        results.append((loss, [p.grad.clone() for p in model.q_net.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-6, abs=0)
    for a, b in zip(grads_a, grads_b, strict=True):
        th.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)


def test_precision_is_saved_and_loaded(tmp_path) -> None:
    model = image_model("bf16")
    model.save(tmp_path / "model.zip")
    loaded = PaperDQN.load(tmp_path / "model.zip", device="cpu")
    assert loaded.precision == "bf16"
    assert PaperDQN.load(tmp_path / "model.zip", device="cpu", custom_objects={"precision": "fp32"}).precision == "fp32"


@pytest.mark.slow
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("prec", ["fp32", "bf16"])
def test_image_task_learns(prec: str, fused: bool) -> None:
    """
    The paper's network on 44x44x4 frames learns which side the bright patch is on: chance before, >= 95 % after;
    with the foreach and with the fused (compiled) RMSProp step.
    """
    model = image_model(prec, policy_kwargs={"optimizer_kwargs": {"fused": fused}})
    before = greedy_accuracy(model)
    model.learn(600)
    after = greedy_accuracy(model)
    assert before < 0.8, f"the untrained network already scores {before}"
    assert after >= 0.95, f"{prec}, fused={fused}: greedy accuracy {after} < 0.95 after 400 updates (before: {before})"


@pytest.mark.slow
@pytest.mark.skipif(
    not precision.cpu_has_native_bf16(),
    reason="bf16 is emulated on this CPU (no AVX512-BF16 or AMX): about 5 minutes here; the bf16 image-task test learns",
)
def test_cartpole_reaches_150_in_bf16() -> None:
    """
    The fp32 learning test of tests/test_learning.py, with precision='bf16', where the CPU runs bf16 natively (about a
    minute). Where oneDNN emulates bf16 (AVX2 only) it took 307 s of a 28-minute suite; there the bf16 learning check
    is ``test_image_task_learns[bf16-*]``, which runs on every CPU.
    """
    model = PaperDQN("MlpPolicy", "CartPole-v1", seed=0, device="cpu", precision="bf16", **CARTPOLE_SETTINGS)
    model.learn(20_000)
    mean_return = cartpole_mean_return(model)
    assert mean_return >= 150, f"bf16: mean evaluation return {mean_return} < 150 after 20,000 steps"


def test_bf16_casts_each_weight_once_per_update() -> None:
    """
    Under bf16 autocast the update's two forwards share one bf16 cast of each weight and bias (autocast's cast cache
    lasts the whole autocast region), plus one cast of each forward's input: 8 + 2 conversions for the paper's network.
    """
    from test_fast_update import filled, make_model
    from torch.utils._python_dispatch import TorchDispatchMode

    model = filled(make_model("image", precision="bf16"))
    np.random.seed(1)
    data = model.replay_buffer.sample(32)
    casts: list[tuple[int, ...]] = []

    class RecordCasts(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is th.ops.aten._to_copy.default and kwargs.get("dtype") == th.bfloat16:
                casts.append(tuple(args[0].shape))
            return func(*args, **kwargs)

    # the two forwards of train(), as it runs them
    with RecordCasts(), precision.autocast("bf16", model.device):
        model.fast_update.minibatch_q_values(model.q_net, model.q_net, data.observations, data.next_observations)
    parameters = sorted(tuple(p.shape) for p in model.q_net.parameters())
    inputs = [tuple(data.observations.shape)] * 2
    assert sorted(casts) == sorted(parameters + inputs)
