"""CenteredRMSprop against a hand-computed step and against DeepMind's gradient scale."""

import math

import numpy as np
import pytest
import torch as th

from sb3_dqn_paper.rmsprop import CenteredRMSprop, deepmind_eps_for_mean_loss, eps_share


def test_two_steps_by_hand() -> None:
    w = th.nn.Parameter(th.tensor([1.0, -2.0]))
    opt = CenteredRMSprop([w], lr=0.1, decay=0.9, eps=0.01)
    grads = [th.tensor([0.5, -1.0]), th.tensor([0.2, 3.0])]
    expected = [1.0, -2.0]
    g = [0.0, 0.0]
    g2 = [0.0, 0.0]
    for grad in grads:
        w.grad = grad.clone()
        opt.step()
        for i in range(2):
            d = float(grad[i])
            g[i] = 0.9 * g[i] + 0.1 * d
            g2[i] = 0.9 * g2[i] + 0.1 * d * d
            expected[i] -= 0.1 * d / math.sqrt(g2[i] - g[i] ** 2 + 0.01)
        assert w.detach().tolist() == pytest.approx(expected, rel=1e-6)
    # first step explicitly: g=0.05, g2=0.025 -> 0.1*0.5/sqrt(0.025-0.0025+0.01)
    assert 1.0 - 0.1 * 0.5 / math.sqrt(0.0325) == pytest.approx(1.0 - 0.2773500981, rel=1e-9)


def test_differs_from_torch_centered_rmsprop() -> None:
    """torch's centred RMSprop adds eps outside the square root: a different rule."""
    w1 = th.nn.Parameter(th.tensor([1.0]))
    w2 = th.nn.Parameter(th.tensor([1.0]))
    ours = CenteredRMSprop([w1], lr=0.1, decay=0.95, eps=0.01)
    theirs = th.optim.RMSprop([w2], lr=0.1, alpha=0.95, eps=0.01, centered=True)
    for opt, w in ((ours, w1), (theirs, w2)):
        w.grad = th.tensor([0.01])
        opt.step()
    assert not th.allclose(w1, w2)


def test_mean_loss_with_rescaled_eps_equals_deepmind_summed_gradient() -> None:
    """DeepMind's code steps on the gradient of 0.5 * sum(err^2) with eps 0.01; a mean loss needs eps * (2/B)^2."""
    th.manual_seed(0)
    batch = 32
    net_a = th.nn.Linear(5, 3)
    net_b = th.nn.Linear(5, 3)
    net_b.load_state_dict(net_a.state_dict())
    opt_a = CenteredRMSprop(net_a.parameters(), lr=2.5e-4, decay=0.95, eps=0.01)
    opt_b = CenteredRMSprop(net_b.parameters(), lr=2.5e-4, decay=0.95, eps=deepmind_eps_for_mean_loss(batch))
    for _ in range(5):
        x, actions, targets = th.randn(batch, 5), th.randint(0, 3, (batch, 1)), th.randn(batch, 1)
        # DeepMind: backpropagate (Q - y) per sample, i.e. the gradient of 0.5 * sum((Q - y)^2)
        opt_a.zero_grad()
        (0.5 * ((net_a(x).gather(1, actions) - targets) ** 2).sum()).backward()
        opt_a.step()
        # PaperDQN: mean squared error
        opt_b.zero_grad()
        th.nn.functional.mse_loss(net_b(x).gather(1, actions), targets).backward()
        opt_b.step()
    for p_a, p_b in zip(net_a.parameters(), net_b.parameters(), strict=True):
        assert th.allclose(p_a, p_b, rtol=1e-5, atol=1e-7)
    assert deepmind_eps_for_mean_loss(batch) == pytest.approx(0.01 / 256)


@pytest.mark.parametrize("kwargs", [{"lr": -1e-3}, {"decay": 1.0}, {"decay": -0.1}, {"eps": 0.0}])
def test_bad_hyperparameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="CenteredRMSprop"):
        CenteredRMSprop([th.nn.Parameter(th.zeros(1))], **kwargs)


def test_eps_share_reads_the_running_variance() -> None:
    weight = th.nn.Parameter(th.zeros(4))
    optimizer = CenteredRMSprop([weight], lr=0.1, decay=0.5, eps=0.01)
    # one step with gradient (0.01, 0.01, 1, 1): g = 0.5 * grad, g2 = 0.5 * grad^2, variance = 0.25 * grad^2
    weight.grad = th.tensor([0.01, 0.01, 1.0, 1.0])
    optimizer.step()
    (report,) = eps_share(optimizer, [("weight", weight)]).values()
    assert report["eps"] == 0.01
    assert report["eps_dominated"] == 0.5  # 0.25e-4 < 0.01 for the first two, 0.25 > 0.01 for the others
    variance = 0.25 * th.tensor([0.01, 0.01, 1.0, 1.0]).double() ** 2
    assert report["median_variance"] == pytest.approx(float(variance.median()), rel=1e-6)
    # a parameter that never got a step is left out
    assert eps_share(optimizer, [("weight", weight), ("other", th.nn.Parameter(th.zeros(2)))]).keys() == {"weight"}


@th.no_grad()
def _allocating_step(optimizer: CenteredRMSprop) -> None:
    """The step as it was written before the denominators were kept: ``_foreach_addcmul`` allocates them."""
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        grads = [p.grad for p in params]
        for p in params:
            if not optimizer.state[p]:
                optimizer.state[p].update(grad_avg=th.zeros_like(p), square_avg=th.zeros_like(p))
        avgs = [optimizer.state[p]["grad_avg"] for p in params]
        sq_avgs = [optimizer.state[p]["square_avg"] for p in params]
        decay, lr, eps = group["decay"], group["lr"], group["eps"]
        th._foreach_lerp_(avgs, grads, 1.0 - decay)
        th._foreach_mul_(sq_avgs, decay)
        th._foreach_addcmul_(sq_avgs, grads, grads, value=1.0 - decay)
        denom = th._foreach_addcmul(sq_avgs, avgs, avgs, value=-1.0)
        th._foreach_add_(denom, eps)
        th._foreach_sqrt_(denom)
        th._foreach_addcdiv_(params, grads, denom, value=-lr)


def _paper_network() -> th.nn.Module:
    from gymnasium import spaces

    from sb3_dqn_paper.policies import PaperCNN

    space = spaces.Box(0, 255, (4, 84, 84), dtype=np.uint8)
    return th.nn.Sequential(PaperCNN(space, features_dim=256), th.nn.Linear(256, 6))


def test_kept_denominators_give_the_step_of_the_allocating_one() -> None:
    th.manual_seed(0)
    networks = [_paper_network(), _paper_network()]
    networks[1].load_state_dict(networks[0].state_dict())
    optimizers = [CenteredRMSprop(network.parameters(), lr=1e-3, eps=4e-5) for network in networks]
    for _ in range(5):
        inputs = th.rand(32, 4, 84, 84)
        for network, optimizer in zip(networks, optimizers, strict=True):
            optimizer.zero_grad()
            network(inputs).pow(2).mean().backward()
        optimizers[0].step()
        _allocating_step(optimizers[1])
        for a, b in zip(networks[0].parameters(), networks[1].parameters(), strict=True):
            assert th.equal(a, b)
    # the scratch tensors are not part of the saved state: a checkpoint holds what it held before
    assert set(optimizers[0].state_dict()["state"][0]) == {"grad_avg", "square_avg"}


def test_a_warm_step_allocates_nothing() -> None:
    from torch.profiler import ProfilerActivity, profile

    network = _paper_network()
    optimizer = CenteredRMSprop(network.parameters(), lr=1e-3, eps=4e-5)
    network(th.rand(32, 4, 84, 84)).pow(2).mean().backward()
    optimizer.step()  # the first step creates the state and the scratch tensors
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        optimizer.step()
    allocated = sum(max(event.cpu_memory_usage, 0) for event in prof.events() if event.name.startswith("aten::"))
    assert allocated < 4096, f"a warm step allocated {allocated:,} bytes"
    # the allocating version of the same step would have been caught: it allocates the 2.7 MB of denominators
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _allocating_step(optimizer)
    allocated = sum(max(event.cpu_memory_usage, 0) for event in prof.events() if event.name.startswith("aten::"))
    assert allocated >= 4 * sum(p.numel() for p in network.parameters())


def paper_network_parameters(seed: int) -> list[th.nn.Parameter]:
    """Parameters of the paper's network's shapes (conv weights channels-last, as the CPU fast path lays them out)."""
    generator = th.Generator().manual_seed(seed)
    shapes = [(16, 4, 8, 8), (16,), (32, 16, 4, 4), (32,), (256, 2592), (256,), (6, 256), (6,)]
    params = []
    for shape in shapes:
        tensor = th.randn(shape, generator=generator) * 0.05
        if len(shape) == 4:
            tensor = tensor.contiguous(memory_format=th.channels_last)
        params.append(th.nn.Parameter(tensor))
    return params


def run_steps(fused: bool, steps: int, learning_rate=lambda step: 2.5e-4) -> list[th.Tensor]:
    params = paper_network_parameters(0)
    optimizer = CenteredRMSprop(params, lr=2.5e-4, eps=deepmind_eps_for_mean_loss(32), fused=fused)
    generator = th.Generator().manual_seed(1)
    for step in range(steps):
        for param in params:
            param.grad = th.randn(param.shape, generator=generator) * 1e-3
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        optimizer.step()
    return [param.detach().clone() for param in params] + [
        tensor for param in params for tensor in optimizer.state[param].values()
    ]


@pytest.mark.slow
def test_fused_step_equals_the_foreach_step_within_rounding() -> None:
    """
    20 steps, with a learning rate that changes at every step (no recompilation: it is passed as a tensor): weights and
    both running averages within fp32 rounding of the foreach step's, and the state keeps its layout and keys.
    """
    schedule = lambda step: 2.5e-4 * (1.0 - step / 40)  # noqa: E731
    fused, foreach = run_steps(True, 20, schedule), run_steps(False, 20, schedule)
    for a, b in zip(fused, foreach, strict=True):
        assert a.stride() == b.stride()
        th.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    initial = [param.detach() for param in paper_network_parameters(0)]
    moved = max(float((a - b).abs().max()) for a, b in zip(fused, initial, strict=False))
    assert moved > 1e-4  # the steps moved the weights (each entry by about lr per step)


def test_fused_falls_back_to_the_foreach_step_when_compiling_fails(monkeypatch) -> None:
    import sb3_dqn_paper.rmsprop as rmsprop

    def broken_compile(*args, **kwargs):
        def fail(*args, **kwargs):
            raise RuntimeError("no C++ compiler")

        return fail

    monkeypatch.setattr(th, "compile", broken_compile)
    monkeypatch.setattr(rmsprop, "_COMPILE_FAILURE", [])
    rmsprop._compiled_step.cache_clear()
    try:
        with pytest.warns(UserWarning, match=r"torch.compile failed \(RuntimeError: no C\+\+ compiler\)"):
            fused = run_steps(True, 3)
    finally:
        rmsprop._compiled_step.cache_clear()
    for a, b in zip(fused, run_steps(False, 3), strict=True):
        assert th.equal(a, b)


def test_fused_must_be_a_bool() -> None:
    from sb3_dqn_paper.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="fused must be True or False, got 'yes'"):
        CenteredRMSprop([th.nn.Parameter(th.zeros(2))], fused="yes")


def test_optimizer_kwargs_add_to_the_papers_defaults() -> None:
    from sb3_dqn_paper import PaperDQN

    model = PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(optimizer_kwargs=dict(fused=True)))
    group = model.policy.optimizer.param_groups[0]
    assert (group["decay"], group["eps"], group["fused"]) == (0.95, deepmind_eps_for_mean_loss(32), True)
