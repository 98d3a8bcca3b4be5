"""
How far a trained network's action values are above the returns its policy then earns.

The 2013 paper bootstraps on the network being trained (no target network), which is known to make the maximum in
the TD target overestimate (van Hasselt et al., 2016, "Deep Reinforcement Learning with Double Q-learning"). The
paper's own progress measure, the average max Q of :mod:`sb3_dqn_paper.tools.held_out_q`, cannot tell a growing value from
a growing error. This tool compares the two directly: the model plays the evaluation env with an epsilon-greedy
policy for ``n_steps`` agent steps, and at every step of a completed episode its ``Q(s_t, a_t)`` is set beside the
discounted return that followed, ``G_t = r_t + gamma r_{t+1} + ...`` up to the end of the episode, with the
quantities the network is trained on: rewards clipped to their sign, and an episode ending at each lost life (Atari),
as in training.

``G_t`` is the return of the epsilon-greedy policy, while ``Q`` is trained toward the greedy one, so a small excess
of ``Q`` over ``G`` is expected at epsilon 0.05; an excess many times the return is overestimation.

Usage: ``python -m sb3_dqn_paper.tools.overestimation MODEL.zip --env BreakoutNoFrameskip-v4 [--steps 10000]``.
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from sb3_dqn_paper.errors import InvalidArgumentError, PaperDQNError
from sb3_dqn_paper.tools.common import (
    check_model_matches_env,
    check_output_path,
    check_seed,
    load_models_for_env,
    make_evaluation_env,
    run_tool,
    write_json,
)

#: Agent steps played by default (the paper's evaluation length).
DEFAULT_STEPS = 10_000
#: Probability of a random action (the paper's evaluation epsilon).
DEFAULT_EPSILON = 0.05
#: ``kind`` of the JSON file ``--out`` writes.
KIND = "sb3_dqn_paper.overestimation"


def discounted_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """
    The discounted return from every step to the end of its episode.

    :param rewards: Reward of each step, in order
    :param episode_ends: Whether each step ended its episode (terminal, as the TD target treats it)
    :param gamma: Discount factor
    :return: ``G_t`` for every step; the steps after the last episode end belong to no completed episode and
        get ``nan``
    """
    if rewards.shape != episode_ends.shape:
        raise InvalidArgumentError(f"rewards {rewards.shape} and episode_ends {episode_ends.shape} differ in shape")
    returns = np.full(len(rewards), np.nan)
    following = np.nan  # nothing after the last step is known
    for step in range(len(rewards) - 1, -1, -1):
        if episode_ends[step]:
            following = 0.0
        following = rewards[step] + gamma * following
        returns[step] = following
    return returns


def play_and_compare(
    model: Any, env_id: str, n_steps: int = DEFAULT_STEPS, epsilon: float = DEFAULT_EPSILON, seed: int = 0
) -> dict[str, Any]:
    """
    Play ``n_steps`` epsilon-greedy agent steps and compare ``Q(s_t, a_t)`` with the discounted clipped return.

    :param model: A PaperDQN (or SB3 DQN) model
    :param env_id: Gymnasium id (the evaluation env of :func:`~sb3_dqn_paper.tools.evaluate.make_evaluation_env`)
    :param n_steps: Agent steps to play
    :param epsilon: Probability of a random action at each step
    :param seed: Seed of the env and of the random actions
    :return: ``kind``, ``env_id``, ``num_timesteps``, ``steps`` (in completed episodes), ``episodes``, ``mean_q`` (of
        the action taken), ``mean_return``, ``mean_excess`` (``Q - G``), ``gamma``, ``epsilon``, ``seed``
    """
    import torch as th

    if n_steps < 1:
        raise InvalidArgumentError(f"--steps must be at least 1, got {n_steps}")
    if not 0.0 <= epsilon <= 1.0:
        raise InvalidArgumentError(f"--epsilon must be in [0, 1], got {epsilon}")
    env = make_evaluation_env(env_id, seed)
    try:
        check_model_matches_env(model, env, env_id)
    except BaseException:
        env.close()
        raise
    rng = np.random.default_rng(seed)
    q_taken, rewards, ends = np.empty(n_steps), np.empty(n_steps), np.zeros(n_steps, dtype=bool)
    model.policy.set_training_mode(False)
    try:
        observation = env.reset()
        for step in range(n_steps):
            with th.no_grad():
                q_values = model.q_net(model.policy.obs_to_tensor(observation)[0])[0].double().cpu().numpy()
            action = int(rng.integers(len(q_values))) if rng.random() < epsilon else int(q_values.argmax())
            q_taken[step] = q_values[action]
            observation, reward, done, infos = env.step(np.array([action]))
            rewards[step] = np.sign(reward[0])
            # a time-limit truncation is no terminal: the return after it is unknown, so the episode is dropped
            if done[0] and infos[0].get("TimeLimit.truncated", False):
                rewards[step] = np.nan
            ends[step] = bool(done[0])
    finally:
        env.close()
    returns = discounted_returns(rewards, ends, model.gamma)
    known = ~np.isnan(returns)
    if not known.any():
        raise PaperDQNError(f"No episode ended within {n_steps} agent steps: give more --steps")
    return {
        "kind": KIND,
        "env_id": env_id,
        "num_timesteps": int(model.num_timesteps),
        "steps": int(known.sum()),
        "episodes": int(ends[known].sum()),
        "mean_q": float(q_taken[known].mean()),
        "mean_return": float(returns[known].mean()),
        "mean_excess": float((q_taken[known] - returns[known]).mean()),
        "gamma": float(model.gamma),
        "epsilon": epsilon,
        "seed": seed,
    }


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.overestimation``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.overestimation",
        description="Compare a model's Q(s, a) with the discounted clipped return its epsilon-greedy policy then earns "
        "(episodes end at a lost life, as in training), for one or more models of one game.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help="model or checkpoint files (.zip)")
    parser.add_argument("--env", required=True, help="Gymnasium id, e.g. BreakoutNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"agent steps to play (default {DEFAULT_STEPS})")
    parser.add_argument("--epsilon", type=float, default=DEFAULT_EPSILON, help="random-action probability (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the env and of the random actions (default 0)")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    return parser


def run(args: argparse.Namespace) -> int:
    """
    Compare each model's Q-values with the returns that followed, and print one line per model.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    missing = [path for path in args.models if not os.path.isfile(path)]
    if missing:
        raise InvalidArgumentError(f"No such model file: {', '.join(missing)}")
    if args.steps < 1 or not 0.0 <= args.epsilon <= 1.0:
        raise InvalidArgumentError(f"--steps must be >= 1 and --epsilon in [0, 1], got {args.steps}, {args.epsilon}")
    check_seed(args.seed)
    if args.out:
        check_output_path(args.out, args.overwrite)  # refused before anything is computed
    models = load_models_for_env(args.models, args.env, args.seed)  # every model checked before any is played
    results = []
    print(f"{args.env}: Q(s, a) of the action taken against the discounted clipped return that followed")
    print(f"({args.steps:,} agent steps, epsilon {args.epsilon}, seed {args.seed}; completed episodes only)")
    for path, model in zip(args.models, models, strict=True):
        result = {"model": path, **play_and_compare(model, args.env, args.steps, args.epsilon, args.seed)}
        results.append(result)
        print(
            f"{result['num_timesteps']:>12,} agent steps  mean Q {result['mean_q']:9.4f}  mean return "
            f"{result['mean_return']:9.4f}  excess {result['mean_excess']:9.4f}  ({result['steps']:,} steps, "
            f"{result['episodes']} episodes)  {path}"
        )
    if args.out:
        write_json({"kind": KIND, "env_id": args.env, "models": results}, args.out, overwrite=args.overwrite)
    if args.out:
        print(json.dumps({"wrote": args.out}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.overestimation``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
