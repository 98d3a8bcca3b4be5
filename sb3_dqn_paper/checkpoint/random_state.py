"""
The random states a run draws from (Python, NumPy, torch, the action space), saved and restored.
"""

import random
from typing import Any

import numpy as np
import torch as th

from sb3_dqn_paper.paper_dqn import PaperDQN


def get_rng_state(model: PaperDQN) -> dict[str, Any]:
    """
    The random states a run draws from: Python, NumPy's global generator, torch (CPU and initialised CUDA) and
    the model's action space.

    :param model: The model (its action space's generator is read, not created)
    :return: A picklable dict for :func:`set_rng_state`
    """
    action_rng = getattr(model.action_space, "_np_random", None)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
        "action_space": None if action_rng is None else action_rng.bit_generator.state,
    }
    if th.cuda.is_available() and th.cuda.is_initialized():
        state["torch_cuda"] = th.cuda.get_rng_state_all()
    return state


def set_rng_state(model: PaperDQN, state: dict[str, Any]) -> None:
    """
    Set the process's random states (and the model's action space's) to those of :func:`get_rng_state`.

    :param model: The model whose action space gets its generator back
    :param state: What :func:`get_rng_state` returned
    """
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    th.set_rng_state(state["torch"])
    if "torch_cuda" in state and th.cuda.is_available() and len(state["torch_cuda"]) == th.cuda.device_count():
        th.cuda.set_rng_state_all(state["torch_cuda"])
    if state["action_space"] is not None:
        model.action_space.np_random.bit_generator.state = state["action_space"]


def check_rng_state(state: Any, source: str) -> None:
    """
    Check that an unpickled random state is what :func:`get_rng_state` writes, by setting each part on a scratch
    generator: a crafted or damaged one is refused before anything of the process's state is changed.

    :param state: The unpickled object
    :param source: Where it came from, for the message
    :raises CheckpointError: naming the part that cannot be used
    """
    from sb3_dqn_paper.errors import CheckpointError

    if not isinstance(state, dict) or not {"python", "numpy", "torch", "action_space"} <= set(state):
        raise CheckpointError(
            f"{source}: the random states are a {type(state).__name__}, not the dict of python, numpy, torch and "
            "action_space states a checkpoint holds"
        )
    checks = {
        "python": lambda value: random.Random().setstate(value),
        "numpy": lambda value: np.random.RandomState().set_state(value),
        "torch": lambda value: th.Generator().set_state(value),
        "action_space": lambda value: None if value is None else _bit_generator(value),
    }
    for name, check in checks.items():
        try:
            check(state[name])
        except Exception as error:  # each setter refuses a bad state in its own way (TypeError, ValueError, ...)
            raise CheckpointError(f"{source}: the saved {name} random state cannot be used: {error!r}") from error
    cuda = state.get("torch_cuda")
    if cuda is not None and not (isinstance(cuda, (list, tuple)) and all(isinstance(item, th.Tensor) for item in cuda)):
        raise CheckpointError(f"{source}: the saved torch_cuda random states are not a list of tensors: {type(cuda).__name__}")


def _bit_generator(state: Any) -> None:
    """Set a NumPy bit generator state on a new generator of its kind (raises if it is not one)."""
    generator = getattr(np.random, state["bit_generator"])()
    generator.state = state
