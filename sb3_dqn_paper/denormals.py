"""
Denormal (subnormal) floats flushed to zero while PaperDQN trains on a CPU.

RMSProp's running average of squared gradients, and the squares of small gradients themselves, fall below
float32's smallest normal number (about 1.2e-38) during training. Some CPUs (the Intel Xeons measured in
``docs/benchmarks.md``) compute with such numbers through a slow microcode path: there the optimizer step took
several times as long as with normal numbers. Flushing them to zero (the CPU's FTZ/DAZ modes, set by
:func:`torch.set_flush_denormal`) changes only values below 1.2e-38, which are far below anything the update can
resolve; it is not a choice the paper makes either way.

:class:`FlushDenormalsMixin` turns the mode on for the duration of ``learn`` and restores what was there before, so
code around a training run keeps its own floating-point mode. Set ``model.flush_denormal = False`` before ``learn``
to train with denormals kept.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import torch as th

#: The smallest positive float32 denormal times four: zero once denormals are flushed, itself otherwise.
_DENORMAL = 4 * 1.401298464324817e-45


def denormals_flushed() -> bool:
    """
    :return: Whether the calling thread's CPU floating-point mode flushes denormals to zero (torch has a setter
        for the mode, no getter: this looks at what an operation on a denormal gives)
    """
    return float(th.tensor([_DENORMAL], dtype=th.float32).add_(0.0)[0]) == 0.0


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[None]:
    """
    Run the body with denormals flushed to zero on the CPU (``enabled``) and restore the mode found on entry.

    Where the CPU has no such mode (:func:`torch.set_flush_denormal` returns ``False``) nothing changes.
    Written here because torch offers only a process-wide setter, without a scoped form or a getter.

    :param enabled: Whether to flush; ``False`` runs the body in the mode found on entry
    """
    if not enabled:
        yield
        return
    before = denormals_flushed()
    supported = th.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported and not before:
            th.set_flush_denormal(False)


class FlushDenormalsMixin:
    """
    ``learn`` of the algorithm under :func:`flush_denormals` (put it before the algorithm's base class).

    :cvar flush_denormal: Whether ``learn`` flushes denormals; an instance attribute of the same name overrides it
        (and is saved with the model)
    """

    flush_denormal: bool = True

    def learn(self, *args: Any, **kwargs: Any) -> Any:
        """
        ``learn`` of the algorithm, with denormals flushed to zero on a CPU that supports it.

        :param args: The algorithm's ``learn`` arguments
        :param kwargs: Its keyword arguments
        :return: The algorithm
        """
        with flush_denormals(self.flush_denormal):
            return super().learn(*args, **kwargs)  # type: ignore[misc]
