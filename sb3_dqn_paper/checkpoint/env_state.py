"""
The state of a training env, read from every layer of a ``DummyVecEnv`` and put back into an env built the same way.
"""

import pickle
from typing import Any

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper

from sb3_dqn_paper.errors import (
    CheckpointError,
)

#: Attributes that link one env layer to the next; the walk follows them instead of saving them.
_LINK_ATTRIBUTES = frozenset({"env", "venv", "envs"})


#: Attributes derived from the class, not state (``VecEnvWrapper`` caches its class members here).
_DERIVED_ATTRIBUTES = frozenset({"class_attributes"})


class _EmulatorState:
    """
    An Atari emulator state (``ALEInterface.cloneState(include_rng=True)``), restored with ``restoreState``.

    :param state: The ``ALEState`` (picklable, unlike the ``ALEInterface``)
    """

    def __init__(self, state: Any) -> None:
        self.state = state


def _is_emulator(value: Any) -> bool:
    return type(value).__name__ == "ALEInterface" and hasattr(value, "cloneState") and hasattr(value, "restoreState")


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def env_layers(vec_env: VecEnv) -> tuple[list[Any], str | None]:
    """
    Every object whose attributes make up the state of ``vec_env``, from the outermost ``VecEnv`` wrapper in.

    :param vec_env: The training env (``model.env``)
    :return: The layers, and ``None`` or the reason why the sub-envs cannot be reached (then only the
        ``VecEnv`` wrappers are listed)
    """
    layers: list[Any] = []
    layer: Any = vec_env
    while isinstance(layer, VecEnvWrapper):
        layers.append(layer)
        layer = layer.venv
    layers.append(layer)
    if not isinstance(layer, DummyVecEnv):
        return layers, f"the sub-envs of a {type(layer).__name__} live elsewhere and cannot be saved"
    for env in layer.envs:
        while isinstance(env, gym.Wrapper):
            layers.append(env)
            env = env.env
        layers.append(env)
    return layers, None


def _layer_state(layer: Any, skipped: list[str]) -> dict[str, Any]:
    state = {}
    for name, value in vars(layer).items():
        if name in _DERIVED_ATTRIBUTES or isinstance(value, (gym.Env, VecEnv)):
            continue
        if name in _LINK_ATTRIBUTES and (isinstance(value, list) or value is None):
            continue
        if _is_emulator(value):
            state[name] = _EmulatorState(value.cloneState(include_rng=True))
            continue
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # open files, locks, renderers: the new env's own value stays
            skipped.append(f"{type(layer).__name__}.{name}")
            continue
        state[name] = value
    return state


def get_env_state(vec_env: VecEnv) -> dict[str, Any]:
    """
    The state of a training env, to be put back with :func:`set_env_state`.

    :param vec_env: The training env (``model.env``)
    :return: A picklable dict: ``layers`` (the class of each layer), ``states`` (the attributes of each layer, or
        ``None`` when the sub-envs cannot be reached), ``skipped`` (attributes that could not be pickled) and
        ``reason`` (why the state is missing, if it is)
    """
    layers, reason = env_layers(vec_env)
    skipped: list[str] = []
    states = None if reason else [_layer_state(layer, skipped) for layer in layers]
    return {"layers": [_type_name(layer) for layer in layers], "states": states, "skipped": skipped, "reason": reason}


def set_env_state(vec_env: VecEnv, env_state: dict[str, Any]) -> None:
    """
    Put the state captured by :func:`get_env_state` into ``vec_env``, which must be built the same way.

    :param vec_env: An env with the same layers (same wrappers, same number of sub-envs)
    :param env_state: What :func:`get_env_state` returned
    :raises CheckpointError: if the layers differ, naming the first difference
    """
    if env_state["states"] is None:
        raise CheckpointError(f"the checkpoint holds no env state: {env_state['reason']}")
    layers, _ = env_layers(vec_env)
    names, saved_names = [_type_name(layer) for layer in layers], env_state["layers"]
    if names != saved_names:
        first = next((i for i, (a, b) in enumerate(zip(names, saved_names, strict=False)) if a != b), None)
        first = min(len(names), len(saved_names)) if first is None else first
        saved = saved_names[first] if first < len(saved_names) else "nothing"
        given = names[first] if first < len(names) else "nothing"
        raise CheckpointError(
            f"the env is not built like the checkpoint's: layer {first} is {given} but was {saved} "
            f"(checkpoint layers: {saved_names}). Build the env the same way, or pass "
            "restore_env_state=False to start new episodes instead."
        )
    for layer, state in zip(layers, env_state["states"], strict=True):
        for name, value in state.items():
            if isinstance(value, _EmulatorState):
                getattr(layer, name).restoreState(value.state)
            else:
                setattr(layer, name, value)
