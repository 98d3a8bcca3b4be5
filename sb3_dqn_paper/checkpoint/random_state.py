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
