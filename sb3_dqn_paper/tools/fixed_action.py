"""
Play one fixed action under epsilon-greedy exploration, for several epsilons: can the game's rewards be reached at all
at the exploration rates of the paper's schedule?

A Q-network learns nothing from a game until a reward shows up in its replay memory. In a game where random play
scores nothing (Enduro: 0 in Table 1's Random row), even a network that already preferred the right action sees
rewards only once epsilon has fallen far enough. This tool measures where that is: the policy is "the action
``ACTION`` (e.g. ``FIRE``, Enduro's accelerator), or a uniformly random action with probability epsilon" (the draws of
:class:`~sb3_dqn_paper.tools.evaluate.EpsilonGreedy`), run for ``--steps`` agent steps per epsilon in the evaluation
env (the training preprocessing, rewards unclipped), every epsilon with the same seed. For each epsilon it reports the
completed games' scores, the non-zero rewards per game (what the training would have seen, clipped to their sign) and
the agent step at which PaperDQN's default schedule (1.0 to 0.1 over 1M agent steps, or over ``--exploration-steps``)
reaches that epsilon.

Usage::

    python -m sb3_dqn_paper.tools.fixed_action --env EnduroNoFrameskip-v4 --action FIRE --epsilons 1,0.7,0.5,0.1,0
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.exploration import PAPER_EXPLORATION_STEPS, PAPER_FINAL_EPS, PAPER_INITIAL_EPS, first_step_at
from sb3_dqn_paper.tools.common import check_output_path, make_evaluation_env, run_tool, seed_argument, write_json
from sb3_dqn_paper.tools.evaluate import EpsilonGreedy, PlayedGame, check_epsilon, check_n_steps, play_games

#: Value of the ``"kind"`` key of the JSON file.
RESULT_KIND = "sb3_dqn_paper.fixed_action"


class FixedAction:
    """
    A policy that always takes one action, with the ``predict`` that :class:`EpsilonGreedy` calls.

    :param action: The action's index
    """

    def __init__(self, action: int) -> None:
        self.action = action

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """
        :param observation: A batch of observations
        :param deterministic: Ignored (the action is fixed)
        :return: The action once per observation, and no state
        """
        return np.full(len(observation), self.action, dtype=np.int64), None


def action_index(env: Any, action: str) -> tuple[int, str | None]:
    """
    :param env: A ``VecEnv`` with a discrete action space
    :param action: An action name of the game (``FIRE``) or an index (``1``)
    :return: The action's index and its name (``None`` where the env names no actions)
    :raises InvalidArgumentError: naming the valid actions
    """
    n_actions = int(env.action_space.n)
    try:
        meanings = list(env.envs[0].unwrapped.get_action_meanings())
    except AttributeError:
        meanings = None
    if action.isdigit():
        index = int(action)
        if index >= n_actions:
            raise InvalidArgumentError(f"action {index} is out of range: the env has {n_actions} actions (0-{n_actions - 1})")
        return index, None if meanings is None else meanings[index]
    if meanings is None or action.upper() not in meanings:
        valid = f"one of {', '.join(meanings)} or an index" if meanings else f"an index from 0 to {n_actions - 1}"
        raise InvalidArgumentError(f"unknown action {action!r}: give {valid}")
    return meanings.index(action.upper()), action.upper()


def play_fixed_action(env: Any, action: int, epsilon: float, n_steps: int, seed: int) -> list[PlayedGame]:
    """
    Run the fixed-action epsilon-greedy policy for ``n_steps`` agent steps.

    :param env: The evaluation ``VecEnv`` (one env); it is reseeded with ``seed``
    :param action: The fixed action's index
    :param epsilon: Probability of a uniformly random action
    :param n_steps: Agent steps to run
    :param seed: Seed of the env and of the epsilon draws
    :return: The games completed within ``n_steps`` (the unfinished last one is dropped)
    """
    env.seed(seed)
    return play_games(env, EpsilonGreedy(FixedAction(action), int(env.action_space.n), epsilon, seed), n_steps)


def epsilons_argument(text: str) -> list[float]:
    """
    ``argparse`` type of ``--epsilons``: comma-separated numbers in [0, 1].

    :param text: The command-line value
    :return: The epsilons, in the order given
    :raises argparse.ArgumentTypeError: naming the bad value
    """
    values = []
    for part in text.split(","):
        try:
            value = float(part)
            check_epsilon(value)
        except (ValueError, InvalidArgumentError):
            raise argparse.ArgumentTypeError(f"{part!r} is not an epsilon in [0, 1]") from None
        values.append(value)
    return values


def format_rows(result: dict[str, Any]) -> str:
    """
    :param result: What :func:`run` writes as JSON
    :return: The result as a text table
    """
    name = result["action_name"] or f"action {result['action']}"
    decay = result["schedule"]["steps"]
    header = "paper schedule reaches it at" if decay == PAPER_EXPLORATION_STEPS else f"decay over {decay:,} reaches it at"
    lines = [
        f"{result['env_id']}: always {name} (action {result['action']} of {result['n_actions']}), else a random action with "
        f"probability epsilon; {result['n_steps']:,} agent steps per epsilon, seed {result['seed']}",
        f"{'epsilon':>7}  {header:>28}  {'games':>5}  {'score: average (min-max)':>24}  {'non-zero rewards per game':>25}",
    ]
    for row in result["rows"]:
        never = f"never (ends at {result['schedule']['final']:g})"
        step = never if row["schedule_step"] is None else f"{row['schedule_step']:,}"
        scores = [game["score"] for game in row["games"]]
        if scores:
            score = f"{np.mean(scores):.1f} ({min(scores):g}-{max(scores):g})"
            rewards = f"{np.mean([game['rewards'] for game in row['games']]):.1f}"
        else:
            score = rewards = "no game completed"
        lines.append(f"{row['epsilon']:>7g}  {step:>28}  {len(scores):>5}  {score:>24}  {rewards:>25}")
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.fixed_action``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.fixed_action",
        description="Play one fixed action with a random action at probability epsilon, for several epsilons: the "
        "scores and the non-zero rewards per game, beside the agent step at which the paper's schedule reaches each "
        "epsilon.",
    )
    parser.add_argument("--env", required=True, help="Gymnasium id, e.g. EnduroNoFrameskip-v4")
    parser.add_argument("--action", required=True, help="the fixed action: a name of the game's actions (FIRE) or an index")
    parser.add_argument(
        "--epsilons",
        type=epsilons_argument,
        default=[1.0, 0.7, 0.5, 0.3, 0.1, 0.0],
        help="comma-separated exploration rates in [0, 1] (default 1,0.7,0.5,0.3,0.1,0)",
    )
    parser.add_argument("--steps", type=int, default=10_000, help="agent steps per epsilon (default 10000)")
    parser.add_argument(
        "--exploration-steps",
        type=int,
        default=PAPER_EXPLORATION_STEPS,
        help=f"length of the schedule's decay from {PAPER_INITIAL_EPS:g} to {PAPER_FINAL_EPS:g}, in agent steps, for the "
        f"column of when it reaches each epsilon (default {PAPER_EXPLORATION_STEPS}, PaperDQN's)",
    )
    parser.add_argument("--seed", type=seed_argument, default=0, help="seed of the env and of the draws (default 0)")
    parser.add_argument("--noop-max", type=int, default=30, help="no-ops at the start of each game (default 30)")
    parser.add_argument("--out", help="also write the results as JSON to this file")
    parser.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    return parser


def run(args: argparse.Namespace) -> int:
    """
    Play the fixed action for each epsilon and print the table.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    check_n_steps(args.steps)
    if args.exploration_steps <= 0:
        steps = args.exploration_steps
        raise InvalidArgumentError(f"--exploration-steps must be a positive number of agent steps, got {steps}")
    if args.out:
        check_output_path(args.out, args.overwrite)  # refused before anything is played
    env = make_evaluation_env(args.env, seed=args.seed, noop_max=args.noop_max)
    try:
        action, name = action_index(env, args.action)
        rows = []
        for epsilon in args.epsilons:
            games = play_fixed_action(env, action, epsilon, args.steps, args.seed)
            step = first_step_at(epsilon, PAPER_INITIAL_EPS, PAPER_FINAL_EPS, args.exploration_steps)
            rows.append(dict(epsilon=epsilon, schedule_step=step, games=[asdict(game) for game in games]))
    finally:
        env.close()
    result = dict(
        kind=RESULT_KIND,
        env_id=args.env,
        action=action,
        action_name=name,
        n_actions=int(env.action_space.n),
        n_steps=args.steps,
        seed=args.seed,
        noop_max=args.noop_max,
        schedule=dict(initial=PAPER_INITIAL_EPS, final=PAPER_FINAL_EPS, steps=args.exploration_steps),
        rows=rows,
    )
    print(format_rows(result))
    if args.out:
        write_json(result, args.out, overwrite=args.overwrite)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.fixed_action``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
