"""
The RMSProp variant of DeepMind's released DQN code.

The 2013 paper says "RMSProp" and nothing more. DeepMind's released Lua code for the 2015 Nature
paper (``dqn/NeuralQLearner.lua``) is the closest public record of what they ran: a *centred*
RMSProp with decay 0.95 whose constant 0.01 sits *inside* the square root::

    g  = decay * g  + (1 - decay) * grad
    g2 = decay * g2 + (1 - decay) * grad ** 2
    w  = w - lr * grad / sqrt(g2 - g ** 2 + eps)

``torch.optim.RMSprop(centered=True)`` adds ``eps`` *outside* the square root, which changes the step
whenever the gradient variance is small, so it cannot stand in for this rule.

Gradient scale: DeepMind's code backpropagates ``-(y - Q)`` for each of the 32 samples and so
accumulates the gradient of ``0.5 * sum((y - Q) ** 2)``. SB3-style losses are means, whose gradient is
``2 / batch_size`` times that. Because ``eps`` is compared with squared gradients, the same update is
obtained from a mean loss with ``eps * (2 / batch_size) ** 2``: :func:`deepmind_eps_for_mean_loss`
gives that value, and ``tests/test_rmsprop.py`` checks the equality.

``fused=True`` computes the same rule in one pass over each parameter, compiled by ``torch.compile`` (Inductor): the
foreach version reads and writes the parameters and the two running averages in seven separate passes, which makes
the step memory-bound (about 1.6 ms per step for the paper's network on one CPU core, against 0.35 ms fused;
``docs/benchmarks.md``). It equals the foreach step within fp32 rounding, not bit for bit (the fused arithmetic is
ordered differently). It needs a C++ compiler the first time a shape is seen (tens of seconds; Inductor caches the
result on disk); where compiling fails it warns and takes the foreach step.
"""

import functools
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch as th

from sb3_dqn_paper.errors import InvalidArgumentError

#: DeepMind's constant inside the square root, sized for a gradient summed over the minibatch.
DEEPMIND_EPS = 0.01
#: DeepMind's squared-gradient (and gradient) decay.
DEEPMIND_DECAY = 0.95
#: DeepMind's learning rate (``lr`` in ``run_gpu``).
DEEPMIND_LR = 2.5e-4


def deepmind_eps_for_mean_loss(batch_size: int, eps: float = DEEPMIND_EPS) -> float:
    """
    The constant that makes :class:`CenteredRMSprop` on a *mean* squared-error loss take the same step
    as DeepMind's code takes on its summed half squared error.

    :param batch_size: Minibatch size the mean is taken over
    :param eps: DeepMind's constant (0.01)
    :return: ``eps * (2 / batch_size) ** 2``
    """
    if batch_size <= 0:
        raise InvalidArgumentError(f"batch_size must be positive, got {batch_size}")
    return eps * (2.0 / batch_size) ** 2


class CenteredRMSprop(th.optim.Optimizer):
    """
    Centred RMSProp with the constant inside the square root, as in DeepMind's released DQN code.

    :param params: Parameters (or parameter groups) to optimise
    :param lr: Learning rate
    :param decay: Decay of the running averages of the gradient and of its square
    :param eps: Constant added to the centred second moment inside the square root
    :param fused: Whether to take each step in one compiled pass per parameter (``torch.compile``; see the module's
        docstring); the state and the rule are the same
    """

    def __init__(
        self,
        params: Iterable[th.Tensor] | Iterable[dict[str, Any]],
        lr: float = DEEPMIND_LR,
        decay: float = DEEPMIND_DECAY,
        eps: float = DEEPMIND_EPS,
        fused: bool = False,
    ) -> None:
        # lr = 0 is allowed, as in torch.optim: rl-zoo3's enjoy/record_video load models with learning_rate 0
        if not lr >= 0.0:
            raise InvalidArgumentError(f"CenteredRMSprop: learning rate must be >= 0, got {lr}")
        if not 0.0 <= decay < 1.0:
            raise InvalidArgumentError(f"CenteredRMSprop: decay must be in [0, 1), got {decay}")
        if not eps > 0.0:
            raise InvalidArgumentError(f"CenteredRMSprop: eps must be positive, got {eps}")
        if not isinstance(fused, bool):
            raise InvalidArgumentError(f"CenteredRMSprop: fused must be True or False, got {fused!r}")
        super().__init__(params, dict(lr=lr, decay=decay, eps=eps, fused=fused))
        # The learning rate as a tensor for the compiled step: a Python float would be compiled in as a constant, and
        # every new value of a learning-rate schedule would compile the step again
        self._lr_tensor = th.zeros(())
        # The denominator of each parameter, kept between steps so that a step allocates nothing: it is scratch space,
        # recomputed in full at every step, so it is neither in ``state`` nor in ``state_dict()`` (checkpoints of
        # earlier releases load, and a checkpoint does not grow)
        self._denominators: dict[int, th.Tensor] = {}

    def _denominator(self, param: th.Tensor) -> th.Tensor:
        scratch = self._denominators.get(id(param))
        if scratch is None or scratch.shape != param.shape or scratch.dtype != param.dtype or scratch.device != param.device:
            scratch = th.empty_like(param, memory_format=th.preserve_format)
            self._denominators[id(param)] = scratch
        return scratch

    @th.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """
        Take one optimisation step.

        :param closure: Optional closure that re-evaluates the model and returns the loss
        :return: The loss returned by ``closure``, if any
        """
        loss = None
        if closure is not None:
            with th.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            avgs, sq_avgs = [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["grad_avg"] = th.zeros_like(p, memory_format=th.preserve_format)
                    state["square_avg"] = th.zeros_like(p, memory_format=th.preserve_format)
                avgs.append(state["grad_avg"])
                sq_avgs.append(state["square_avg"])
            decay, lr, eps = group["decay"], group["lr"], group["eps"]
            if group.get("fused", False) and self._fused_step(params, grads, avgs, sq_avgs, lr, decay, eps):
                continue
            # g = decay * g + (1 - decay) * grad ; g2 = decay * g2 + (1 - decay) * grad^2
            th._foreach_lerp_(avgs, grads, 1.0 - decay)
            th._foreach_mul_(sq_avgs, decay)
            th._foreach_addcmul_(sq_avgs, grads, grads, value=1.0 - decay)
            # denom = sqrt(g2 - g^2 + eps), written into the kept scratch tensors: no allocation per step
            denom = [self._denominator(p) for p in params]
            for out, sq_avg, avg in zip(denom, sq_avgs, avgs, strict=True):
                th.addcmul(sq_avg, avg, avg, value=-1.0, out=out)  # one pass, as the allocating _foreach_addcmul
            th._foreach_add_(denom, eps)
            th._foreach_sqrt_(denom)
            th._foreach_addcdiv_(params, grads, denom, value=-lr)
        return loss

    def _fused_step(self, params: list, grads: list, avgs: list, sq_avgs: list, lr: float, decay: float, eps: float) -> bool:
        """
        The step in one compiled pass per parameter.

        :return: Whether it was taken (False, with a warning the first time, where compiling failed)
        """
        step = _compiled_step()
        if step is None:
            return False
        if self._lr_tensor.device != params[0].device:
            self._lr_tensor = self._lr_tensor.to(params[0].device)
        self._lr_tensor.fill_(lr)
        try:
            step(params, grads, avgs, sq_avgs, self._lr_tensor, decay, eps)
        except Exception as error:  # compiling happens at the first call: nothing was written if it fails
            _disable_compiled_step(error)
            return False
        return True


def _centered_rmsprop_pass(
    params: list[th.Tensor],
    grads: list[th.Tensor],
    avgs: list[th.Tensor],
    sq_avgs: list[th.Tensor],
    lr: th.Tensor,
    decay: float,
    eps: float,
) -> None:
    """DeepMind's centred RMSProp step written per element, for ``torch.compile`` to fuse into one pass per parameter."""
    for param, grad, avg, sq_avg in zip(params, grads, avgs, sq_avgs, strict=True):
        avg.lerp_(grad, 1.0 - decay)
        sq_avg.mul_(decay).addcmul_(grad, grad, value=1.0 - decay)
        param.sub_(lr * grad / (sq_avg - avg * avg + eps).sqrt())


_COMPILE_FAILURE: list[str] = []


@functools.cache
def _compiled_step() -> Callable[..., None] | None:
    """:return: The compiled pass (compiled lazily, at its first call), or ``None`` after a failure to compile"""
    if _COMPILE_FAILURE:
        return None
    return th.compile(_centered_rmsprop_pass, fullgraph=True, dynamic=False)


def _disable_compiled_step(error: Exception) -> None:
    """Fall back to the foreach step for the rest of the process, saying why once."""
    _COMPILE_FAILURE.append(f"{type(error).__name__}: {error}")
    _compiled_step.cache_clear()
    warnings.warn(
        f"CenteredRMSprop(fused=True): torch.compile failed ({_COMPILE_FAILURE[0].splitlines()[0][:300]}); "
        "taking the foreach step instead (the same rule)",
        stacklevel=4,
    )


def eps_share(optimizer: CenteredRMSprop, named_parameters: Iterable[tuple[str, th.Tensor]]) -> dict[str, dict[str, float]]:
    """
    How much the constant ``eps`` weighs in each parameter's step, read from the optimizer's running averages.

    The step of an entry is ``lr * grad / sqrt(v + eps)`` with ``v = g2 - g ** 2``, the running variance of its
    gradient. Where ``v`` is far above ``eps`` the step is RMSProp's (scale-free); where it is far below, the step is
    plain SGD with learning rate ``lr / sqrt(eps)``. This tells which regime training is in, for the question whether
    ``eps`` is sized for the gradient's scale.

    :param optimizer: The optimizer, after at least one step
    :param named_parameters: ``(name, parameter)`` pairs of the network it optimises, e.g. ``q_net.named_parameters()``
    :return: Per parameter: ``median_variance`` (median ``v``), ``eps``, and ``eps_dominated`` (fraction of entries
        with ``v < eps``)
    """
    report = {}
    eps_of = {id(param): group["eps"] for group in optimizer.param_groups for param in group["params"]}
    for name, param in named_parameters:
        state = optimizer.state.get(param)
        if not state:
            continue
        variance = (state["square_avg"] - state["grad_avg"] ** 2).flatten().double()
        eps = eps_of[id(param)]
        report[name] = dict(
            median_variance=float(variance.median()),
            eps=float(eps),
            eps_dominated=float((variance < eps).double().mean()),
        )
    return report
