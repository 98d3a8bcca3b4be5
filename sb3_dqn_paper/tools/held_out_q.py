"""
The paper's second measure of training progress: the average action value on a held-out set of states.

Mnih et al. (2013), Section 5.1 and Figure 2 (right): "we collect a fixed set of states by running a random policy
before training starts and track the average of the maximum predicted Q for these states". The paper found it much
smoother than the average score, and rising steadily during training on Breakout and Seaquest.

Here the states are collected by a uniformly random policy in the evaluation env
(:func:`~sb3_dqn_paper.tools.evaluate.make_evaluation_env`: the training preprocessing, 4 stacked 84x84 frames), seeded,
so the same ``n_states`` and ``seed`` give the same states for every model; the value of a model is the mean over
the states of ``max_a Q(s, a)``, computed in batches without gradients.

Beside it, :func:`inactive_units` counts the units of the network's last hidden layer that are zero on every held-out
state: ReLU units that no longer take part (they get no gradient, so they rarely come back).

Usage: ``python -m sb3_dqn_paper.tools.held_out_q MODEL.zip [MODEL.zip ...] --env BreakoutNoFrameskip-v4 [--states 1000]``.
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.common import (
    check_output_path,
    check_seed,
    load_models_for_env,
    make_evaluation_env,
    run_tool,
    write_json,
)

#: States in the held-out set by default (the paper does not give its number).
DEFAULT_STATES = 1000
#: Agent steps between two kept states, so that the set spans several games rather than one stretch of play.
STATE_STRIDE = 5


def collect_held_out_states(env_id: str, n_states: int = DEFAULT_STATES, seed: int = 0) -> np.ndarray:
    """
    Play uniformly random actions and keep every :data:`STATE_STRIDE`-th observation.

    :param env_id: Gymnasium id
    :param n_states: States to keep
    :param seed: Seed of the env and of the random actions
    :return: ``n_states`` observations as the model sees them (channel-first for images)
    """
    if n_states < 1:
        raise InvalidArgumentError(f"--states must be at least 1, got {n_states}")
    env = make_evaluation_env(env_id, seed)
    if not isinstance(env.action_space, spaces.Discrete):
        env.close()
        raise InvalidArgumentError(
            f"{env_id} has the action space {env.action_space}; the held-out states are collected for a DQN, which "
            "needs a Discrete one"
        )
    rng = np.random.default_rng(seed)
    try:
        observation = env.reset()
        states = []
        step = 0
        while len(states) < n_states:
            if step % STATE_STRIDE == 0:
                states.append(observation[0].copy())
            observation, *_ = env.step(rng.integers(env.action_space.n, size=1))
            step += 1
    finally:
        env.close()
    return np.stack(states)


def _check_states(model: Any, states: np.ndarray) -> None:
    """Refuse held-out states of another shape than the model's observations (another game or preprocessing)."""
    if states.shape[1:] != model.observation_space.shape:
        raise InvalidArgumentError(
            f"The held-out states have shape {states.shape[1:]} but the model expects {model.observation_space.shape}"
        )


def held_out_measures(model: Any, states: np.ndarray, batch_size: int = 256) -> tuple[float, tuple[int, int] | None]:
    """
    Both measures of the held-out states in one forward pass over them: :func:`average_max_q` and
    :func:`inactive_units`.

    The Q-values are computed as SB3's ``QNetwork.forward`` computes them, the head on the features extractor's
    output, so the features that :func:`inactive_units` counts come from the same pass.

    :param model: A PaperDQN (or SB3 DQN) model
    :param states: Observations as :func:`collect_held_out_states` returns them
    :param batch_size: States per forward pass
    :return: The average maximum action value, and ``(inactive units, units)`` (``None`` for a features extractor
        without convolutions)
    """
    import torch as th

    _check_states(model, states)
    q_net = model.q_net
    extractor = q_net.features_extractor
    count_units = any(isinstance(layer, th.nn.Conv2d) for layer in extractor.modules())
    total, active = 0.0, None
    model.policy.set_training_mode(False)
    with th.no_grad():
        for start in range(0, len(states), batch_size):
            observation, _ = model.policy.obs_to_tensor(states[start : start + batch_size])
            features = q_net.extract_features(observation, extractor)
            total += float(q_net.q_net(features).max(dim=1).values.double().sum())
            if count_units:
                batch_active = (features != 0).any(dim=0)
                active = batch_active if active is None else active | batch_active
    inactive = None if active is None else (int((~active).sum()), int(active.numel()))
    return total / len(states), inactive


def average_max_q(model: Any, states: np.ndarray, batch_size: int = 256) -> float:
    """
    The mean over ``states`` of ``max_a Q(s, a)`` under ``model``'s Q-network.

    :param model: A PaperDQN (or SB3 DQN) model
    :param states: Observations as :func:`collect_held_out_states` returns them
    :param batch_size: States per forward pass
    :return: The average maximum action value
    """
    return held_out_measures(model, states, batch_size)[0]


def inactive_units(model: Any, states: np.ndarray, batch_size: int = 256) -> tuple[int, int] | None:
    """
    Units of the features extractor's output that are zero on every held-out state ("dead" ReLUs).

    A ReLU unit that is off for every input gets no gradient and stays off; their share tells how much of the
    network's last hidden layer still takes part. Only for image features extractors (the paper's network ends in a
    256-unit ReLU layer); ``None`` for others, whose features are the raw observation.

    :param model: A PaperDQN (or SB3 DQN) model
    :param states: Observations as :func:`collect_held_out_states` returns them
    :param batch_size: States per forward pass
    :return: ``(inactive units, units)``, or ``None`` for a features extractor without convolutions
    """
    return held_out_measures(model, states, batch_size)[1]


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.held_out_q``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.held_out_q",
        description="The paper's average action value: mean of max_a Q(s, a) over a fixed set of states collected by a "
        "random policy (Mnih et al. 2013, Figure 2), for one or more models of one game.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="model or checkpoint files (.zip)")
    parser.add_argument("--env", required=True, help="Gymnasium id, e.g. BreakoutNoFrameskip-v4")
    parser.add_argument("--states", type=int, default=DEFAULT_STATES, help=f"held-out states (default {DEFAULT_STATES})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy and of the env (default 0)")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    return parser


def run(args: argparse.Namespace) -> int:
    """
    Measure the models of the parsed command line on held-out states and print one line per model.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    check_seed(args.seed)
    for path in args.models:
        if not os.path.isfile(path):
            raise InvalidArgumentError(f"{path}: no such model file")
    if args.out:
        check_output_path(args.out, args.overwrite)  # refused before anything is computed
    models = load_models_for_env(args.models, args.env, args.seed)  # every model checked before any state is collected
    states = collect_held_out_states(args.env, args.states, args.seed)
    rows = []
    for path, model in zip(args.models, models, strict=True):
        value, inactive = held_out_measures(model, states)
        rows.append(
            dict(
                model=path,
                num_timesteps=int(model.num_timesteps),
                average_max_q=value,
                inactive_units=None if inactive is None else inactive[0],
                units=None if inactive is None else inactive[1],
            )
        )
    result = dict(env_id=args.env, n_states=args.states, seed=args.seed, models=rows)
    if args.out:
        write_json(result, args.out, overwrite=args.overwrite)
    print(f"{args.env}: average max Q over {args.states} held-out states (random policy, seed {args.seed})")
    for row in sorted(rows, key=lambda row: row["num_timesteps"]):
        units = "" if row["units"] is None else f"  inactive units {row['inactive_units']:>4} of {row['units']}"
        print(f"{row['num_timesteps']:>12,} agent steps  average max Q {row['average_max_q']:10.4f}{units}  {row['model']}")
    if args.out:
        print(json.dumps({"wrote": args.out}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.held_out_q``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
