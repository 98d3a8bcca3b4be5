"""
Evaluate a trained PaperDQN model with the paper's protocol and set the result beside Table 1.

The protocol (Mnih et al., 2013, Section 5): an epsilon-greedy policy with epsilon = 0.05 runs for a fixed
number of agent steps (10,000 for each point of Figure 2), and the score of a game is its total reward.
Here that means:

- one environment, ``n_steps`` agent steps (one action each, repeated for ``k`` frames by the frame skip);
  only the games that end within those steps count, the unfinished last one is dropped;
- whole games: a game's score is counted when the game is over (SB3's ``Monitor`` sits below the life-loss
  wrapper, so ``info["episode"]`` comes only at game over). By default the evaluation env keeps the training env's
  life-loss episodes (``terminal_on_life_loss=True``): after a lost life the frame stack restarts and SB3's
  ``FireResetEnv`` presses FIRE, as during training, so the agent is scored in the env it learned in, as rl-zoo3's
  published scores are. ``terminal_on_life_loss=False`` (``--no-life-loss``) plays the game with no life-loss
  signal at all, as the 2013 paper's agent did; an agent trained with SB3's wrappers never had to press FIRE
  after a lost life, so there it waits for a random FIRE from the epsilon draws;
- the evaluation env does not clip rewards (``clip_reward=False``). The unclipped score of a game is
  ``info["episode"]["r"]`` of SB3's ``Monitor``, the same number rl-zoo3's training logs show. The clipped score
  is the sum of ``sign(reward)`` over the game's agent steps, the reward the agent was trained on;
- epsilon is applied here, with a NumPy generator seeded by ``seed``: the model's own ``exploration_rate`` and
  NumPy's global state are not used, so the same seed gives the same numbers. The greedy action is
  ``model.predict(obs, deterministic=True)``;
- the preprocessing is the training one (:func:`~sb3_dqn_paper.atari.make_paper_atari_env`: frame skip 4, or 3
  for Space Invaders, 84x84 grayscale, 4 stacked frames), including SB3's up to 30 no-op actions at reset,
  which vary the start of each game (``noop_max=0`` turns them off; the 2013 paper does not mention them).

Non-Atari ids (e.g. ``CartPole-v1``) are evaluated in a plain ``make_vec_env`` environment, with no Table 1 row.

Usage: ``python -m sb3_dqn_paper.tools.evaluate MODEL.zip --env BreakoutNoFrameskip-v4 [--steps N] [--json]``.
"""

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sb3_dqn_paper.atari import is_atari_env_id
from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.common import (
    check_model_matches_env,
    check_output_path,
    format_score,
    load_model,
    make_evaluation_env,
    parse_env_kwargs,
    run_tool,
    seed_argument,
    write_json,
)
from sb3_dqn_paper.tools.table1 import METHODS, paper_game

#: Agent steps of one evaluation in the paper's Figure 2.
PAPER_EVAL_STEPS = 10_000
#: Epsilon of the paper's evaluation policy.
PAPER_EVAL_EPSILON = 0.05
#: Value of the ``"kind"`` key of every result file, so that the report tool can recognise them.
RESULT_KIND = "sb3_dqn_paper.evaluate"
#: Version of the JSON layout of :meth:`EvaluationResult.to_dict`.
RESULT_FORMAT_VERSION = 1


@dataclass
class Episode:
    """
    One completed game of an evaluation.

    :param score: Total unclipped reward of the game (the Monitor's ``r``)
    :param clipped_score: Sum of ``sign(reward)`` over the game's agent steps
    :param length: Agent steps the game took
    :param truncated: Whether the game was cut by the emulator's time limit rather than ended
    """

    score: float
    clipped_score: float
    length: int
    truncated: bool = False


@dataclass
class EvaluationResult:
    """
    The outcome of :func:`evaluate_paper_protocol`.

    :param env_id: Gymnasium id of the evaluation env
    :param model_path: File the model was loaded from (``None`` for a model object)
    :param model_num_timesteps: Agent steps the model was trained for (its ``num_timesteps``)
    :param n_steps: Agent steps the evaluation ran
    :param epsilon: Probability of a uniformly random action at each step
    :param seed: Seed of the env and of the epsilon draws
    :param noop_max: Maximum number of no-op actions at the start of each game (Atari only)
    :param frame_skip: Emulator frames per agent step (``None`` for non-Atari envs)
    :param terminal_on_life_loss: Whether the evaluation env ended an agent episode (not the game) at each life loss
    :param episodes: The completed games, in order
    :param n_random_actions: Steps on which the action was drawn at random
    """

    env_id: str
    model_path: str | None
    model_num_timesteps: int
    n_steps: int
    epsilon: float
    seed: int
    noop_max: int | None
    frame_skip: int | None
    terminal_on_life_loss: bool = True
    episodes: list[Episode] = field(default_factory=list)
    n_random_actions: int = 0

    @property
    def n_episodes(self) -> int:
        """Number of completed games."""
        return len(self.episodes)

    @property
    def steps_in_completed_episodes(self) -> int:
        """Agent steps that belong to a completed game; the rest belong to the unfinished last one."""
        return sum(episode.length for episode in self.episodes)

    def summary(self, clipped: bool = False) -> dict[str, float] | None:
        """
        Max, mean, min and standard deviation of the completed games' scores.

        :param clipped: Summarise the clipped scores instead of the unclipped ones
        :return: ``{"max", "mean", "min", "std"}``, or ``None`` when no game was completed
        """
        if not self.episodes:
            return None
        scores = np.array([episode.clipped_score if clipped else episode.score for episode in self.episodes])
        return {
            "max": float(scores.max()),
            "mean": float(scores.mean()),
            "min": float(scores.min()),
            "std": float(scores.std()),
        }

    def to_dict(self) -> dict[str, Any]:
        """
        :return: A JSON-serialisable dict: the settings, the summaries, every episode and the game's Table 1 row
        """
        game = paper_game(self.env_id)
        return {
            "kind": RESULT_KIND,
            "format_version": RESULT_FORMAT_VERSION,
            "env_id": self.env_id,
            "game": None if game is None else game.key,
            "game_title": None if game is None else game.title,
            "model_path": self.model_path,
            "model_num_timesteps": self.model_num_timesteps,
            "protocol": {
                "n_steps": self.n_steps,
                "epsilon": self.epsilon,
                "seed": self.seed,
                "noop_max": self.noop_max,
                "frame_skip": self.frame_skip,
                "terminal_on_life_loss": self.terminal_on_life_loss,
                "clip_reward": False,
            },
            "n_episodes": self.n_episodes,
            "steps_in_completed_episodes": self.steps_in_completed_episodes,
            "n_random_actions": self.n_random_actions,
            "unclipped": self.summary(clipped=False),
            "clipped": self.summary(clipped=True),
            "episodes": [asdict(episode) for episode in self.episodes],
            "paper": None if game is None else game.scores(),
        }


class EpsilonGreedy:
    """
    The evaluation policy: a uniformly random action with probability ``epsilon``, else the model's greedy action.

    The draws come from this object's own seeded generator: for each observation first ``U(0, 1)``, then, if it
    falls below ``epsilon``, the random action. The greedy action is computed only when it is used.

    :param model: A model with ``predict(observation, deterministic=True)`` (e.g. PaperDQN)
    :param n_actions: Number of discrete actions
    :param epsilon: Probability of a random action
    :param seed: Seed of the generator
    """

    def __init__(self, model: Any, n_actions: int, epsilon: float, seed: int | None) -> None:
        check_epsilon(epsilon)
        self.model = model
        self.n_actions = n_actions
        self.epsilon = epsilon
        self.rng = np.random.default_rng(seed)
        #: Number of actions drawn at random so far
        self.n_random = 0

    def __call__(self, observation: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """
        :param observation: A batch of observations (one per env of a ``VecEnv``)
        :return: One action per observation
        """
        if isinstance(observation, dict):
            n_batch = len(next(iter(observation.values())))
        else:
            n_batch = len(observation)
        explore = self.rng.random(n_batch) < self.epsilon
        actions = np.zeros(n_batch, dtype=np.int64)
        n_explore = int(explore.sum())
        if n_explore:
            actions[explore] = self.rng.integers(self.n_actions, size=n_explore)
            self.n_random += n_explore
        if n_explore < n_batch:
            greedy = ~explore
            if isinstance(observation, dict):
                batch: np.ndarray | dict[str, np.ndarray] = {key: value[greedy] for key, value in observation.items()}
            else:
                batch = observation[greedy]
            actions[greedy], _ = self.model.predict(batch, deterministic=True)
        return actions


@dataclass
class PlayedGame:
    """
    One game completed by :func:`play_games`.

    :param score: Total unclipped reward of the game (the Monitor's ``r``)
    :param clipped_score: Sum of ``sign(reward)`` over the game's agent steps
    :param rewards: Agent steps with a non-zero reward (the training signal, whatever its sign)
    :param length: Agent steps the game took
    :param truncated: Whether the game was cut by the emulator's time limit rather than ended
    """

    score: float
    clipped_score: float
    rewards: int
    length: int
    truncated: bool


def play_games(env: Any, actor: Callable[[np.ndarray], np.ndarray], n_steps: int) -> list[PlayedGame]:
    """
    Reset ``env`` and play ``actor`` in it for ``n_steps`` agent steps: the loop of the paper's evaluation.

    A game counts when SB3's ``Monitor`` reports it (``info["episode"]``), that is at game over, not at a life loss
    that ends the agent's episode; the unfinished last game is dropped.

    :param env: A ``VecEnv`` with one env, seeded by the caller
    :param actor: Maps a batch of observations to one action each (e.g. :class:`EpsilonGreedy`)
    :param n_steps: Agent steps to run
    :return: The games completed within ``n_steps``, in order
    """
    observation = env.reset()
    games: list[PlayedGame] = []
    clipped_score, rewards, length = 0.0, 0, 0
    for _ in range(n_steps):
        observation, reward, dones, infos = env.step(actor(observation))
        clipped_score += float(np.sign(reward[0]))
        rewards += int(reward[0] != 0)
        length += 1
        if dones[0] and "episode" in infos[0]:
            truncated = bool(infos[0].get("TimeLimit.truncated", False))
            games.append(PlayedGame(float(infos[0]["episode"]["r"]), clipped_score, rewards, length, truncated))
            clipped_score, rewards, length = 0.0, 0, 0
    return games


def check_epsilon(epsilon: float) -> None:
    """
    :param epsilon: Probability of a random action
    :raises ValueError: if it is not in [0, 1]
    """
    if not 0.0 <= epsilon <= 1.0:
        raise InvalidArgumentError(f"epsilon must be in [0, 1], got {epsilon}")


def check_n_steps(n_steps: int) -> None:
    """
    :param n_steps: Number of agent steps to run
    :raises ValueError: if it is not a positive integer
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps <= 0:
        raise InvalidArgumentError(f"the number of agent steps must be a positive integer, got {n_steps!r}")


def evaluate_paper_protocol(
    model: Any,
    env_id: str,
    n_steps: int = PAPER_EVAL_STEPS,
    epsilon: float = PAPER_EVAL_EPSILON,
    seed: int = 0,
    noop_max: int = 30,
    env_kwargs: dict[str, Any] | None = None,
    monitor_dir: str | None = None,
    device: str = "auto",
    terminal_on_life_loss: bool = True,
) -> EvaluationResult:
    """
    Run the paper's evaluation: epsilon-greedy for ``n_steps`` agent steps, completed whole games only.

    :param model: A PaperDQN model, or the path of one saved with ``save``
    :param env_id: Gymnasium id, e.g. ``"BreakoutNoFrameskip-v4"`` (or a non-Atari id such as ``"CartPole-v1"``)
    :param n_steps: Agent steps to run (the paper: 10,000)
    :param epsilon: Probability of a uniformly random action (the paper: 0.05)
    :param seed: Seed of the env and of the epsilon draws; the same seed gives the same result
    :param noop_max: Maximum number of no-ops at the start of each game (Atari only; 0 disables)
    :param env_kwargs: Keyword arguments for ``gym.make``
    :param monitor_dir: Folder for a Monitor CSV of the evaluation games, or ``None``
    :param device: Torch device to load a model file on
    :param terminal_on_life_loss: Keep the training env's life-loss episodes (FIRE pressed after a lost life); the
        score is that of the whole game either way (Atari only)
    :return: The completed games and their summaries
    :raises ValueError: for bad settings, an unknown env id or an env the model was not trained on
    :raises InvalidModelFileError: if ``model`` is a path that is not a PaperDQN save
    """
    check_n_steps(n_steps)
    check_epsilon(epsilon)
    if noop_max < 0:
        raise InvalidArgumentError(f"noop_max must be >= 0, got {noop_max}")
    atari = is_atari_env_id(env_id, env_kwargs)
    model_path = None
    if isinstance(model, (str, os.PathLike)):
        model_path = os.fspath(model)
        model = load_model(model_path, device=device)

    env = make_evaluation_env(
        env_id,
        seed=seed,
        noop_max=noop_max,
        env_kwargs=env_kwargs,
        monitor_dir=monitor_dir,
        terminal_on_life_loss=terminal_on_life_loss,
    )
    try:
        check_model_matches_env(model, env, env_id)
        result = EvaluationResult(
            env_id=env_id,
            model_path=model_path,
            model_num_timesteps=int(model.num_timesteps),
            n_steps=int(n_steps),
            epsilon=float(epsilon),
            seed=seed,
            noop_max=noop_max if atari else None,
            frame_skip=_frame_skip(env_id) if atari else None,
            terminal_on_life_loss=terminal_on_life_loss and atari,
        )
        actor = EpsilonGreedy(model, int(env.action_space.n), epsilon, seed)
        for game in play_games(env, actor, n_steps):
            result.episodes.append(Episode(game.score, game.clipped_score, game.length, game.truncated))
        result.n_random_actions = actor.n_random
    finally:
        env.close()
    return result


def _frame_skip(env_id: str) -> int:
    from sb3_dqn_paper.atari import paper_frame_skip

    return paper_frame_skip(env_id)


def format_result(result: dict[str, Any]) -> str:
    """
    A plain-text report of an evaluation: our max / average / min beside the paper's Table 1.

    :param result: The dict of :meth:`EvaluationResult.to_dict`
    :return: The text, several lines
    """
    protocol = result["protocol"]
    lines = [
        f"PaperDQN evaluation of {result['model_path'] or 'a model'} "
        f"(trained for {result['model_num_timesteps']:,} agent steps) on {result['env_id']}",
        f"protocol: epsilon={protocol['epsilon']}, {protocol['n_steps']:,} agent steps, seed {protocol['seed']}, "
        "completed whole games only"
        + (
            f", frame skip {protocol['frame_skip']}, up to {protocol['noop_max']} no-ops at reset, "
            + ("life-loss episodes as in training" if protocol.get("terminal_on_life_loss") else "no life-loss episodes")
            if protocol["frame_skip"]
            else ""
        ),
        f"completed games: {result['n_episodes']} ({result['steps_in_completed_episodes']:,} agent steps; "
        f"{protocol['n_steps'] - result['steps_in_completed_episodes']:,} steps of an unfinished game not counted); "
        f"random actions: {result['n_random_actions']:,}",
        "",
    ]
    rows: list[tuple[str, float | None, float | None, float | None]] = []
    for name in ("unclipped", "clipped"):
        stats = result[name]
        if stats is None:
            rows.append((f"ours, {name} score", None, None, None))
        else:
            rows.append((f"ours, {name} score", stats["max"], stats["mean"], stats["min"]))
    paper = result["paper"]
    if paper is not None:
        rows.append((f"paper {METHODS['dqn_best']} (one game)", paper["dqn_best"], None, None))
        for method in ("dqn", "random", "human"):
            rows.append((f"paper {METHODS[method]}" + (" average" if method == "dqn" else ""), None, paper[method], None))
    width = max(len(row[0]) for row in rows)
    lines.append(f"{'':<{width}}  {'max':>10}  {'average':>10}  {'min':>10}")
    for label, high, mean, low in rows:
        lines.append(f"{label:<{width}}  {format_score(high):>10}  {format_score(mean):>10}  {format_score(low):>10}")
    if result["n_episodes"] == 0:
        lines.append("")
        lines.append(f"No game ended within {protocol['n_steps']:,} steps: run more steps (--steps).")
    elif paper is None:
        lines.append("")
        lines.append(f"{result['env_id']} is not one of the games of the paper's Table 1.")
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.evaluate``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.evaluate",
        description="Evaluate a PaperDQN model with the paper's protocol (epsilon-greedy, fixed number of agent steps, "
        "completed whole games, unclipped and clipped score) beside the paper's Table 1.",
    )
    parser.add_argument("model", help="model file saved by PaperDQN.save (.zip)")
    parser.add_argument("--env", required=True, help="Gymnasium id, e.g. BreakoutNoFrameskip-v4")
    parser.add_argument(
        "--steps", type=int, default=PAPER_EVAL_STEPS, help=f"agent steps to run (default {PAPER_EVAL_STEPS:,})"
    )
    parser.add_argument(
        "--epsilon", type=float, default=PAPER_EVAL_EPSILON, help=f"random-action probability (default {PAPER_EVAL_EPSILON})"
    )
    parser.add_argument("--seed", type=seed_argument, default=0, help="seed of the env and of the epsilon draws (default 0)")
    parser.add_argument("--noop-max", type=int, default=30, help="max no-ops at the start of a game (Atari; default 30)")
    parser.add_argument(
        "--env-kwargs", nargs="*", metavar="KEY=VALUE", help="keyword arguments for gym.make, e.g. frameskip=1"
    )
    parser.add_argument(
        "--no-life-loss",
        action="store_true",
        help="no life-loss episodes: the agent plays each game through (and must press FIRE itself after a lost life)",
    )
    parser.add_argument("--device", default="auto", help="torch device (default auto)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    parser.add_argument("--out", help="also write the JSON result to this file (read by sb3_dqn_paper.tools.report)")
    parser.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    return parser


def run(args: argparse.Namespace) -> int:
    """
    Evaluate the model of the parsed command line with the paper's protocol and print the result.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    check_n_steps(args.steps)
    check_epsilon(args.epsilon)
    if args.out is not None:
        check_output_path(args.out, args.overwrite)
    data = evaluate_paper_protocol(
        args.model,
        args.env,
        n_steps=args.steps,
        epsilon=args.epsilon,
        seed=args.seed,
        noop_max=args.noop_max,
        env_kwargs=parse_env_kwargs(args.env_kwargs),
        device=args.device,
        terminal_on_life_loss=not args.no_life_loss,
    ).to_dict()
    if args.out is not None:
        write_json(data, args.out, overwrite=args.overwrite)
    print(json.dumps(data, indent=2) if args.json else format_result(data))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.evaluate``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
