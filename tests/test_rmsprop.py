"""CenteredRMSprop against a hand-computed step and against DeepMind's gradient scale."""

import math

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
