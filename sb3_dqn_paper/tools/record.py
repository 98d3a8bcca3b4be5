"""
Record a PaperDQN agent playing, as an animated GIF of the emulator's own RGB frames.

The agent sees 84x84 grayscale stacks; the GIF shows what a person would see: the 210x160 colour frame that
ale-py renders (``render_mode="rgb_array"``), one per agent step (the last of the ``k`` frames the action is
repeated for). The game runs in the evaluation env of :mod:`sb3_dqn_paper.tools.evaluate` (same wrappers, whole
games) with the same seeded epsilon-greedy policy, so a recording shows the play the evaluation scores.

At one frame per agent step, real time is ``60 / k`` frames per second (15 for ``k = 4``). GIF timing is in
hundredths of a second, so each frame lasts the nearest multiple of 10 ms (70 ms for ``k = 4``, 50 ms for
``k = 3``). Consecutive identical frames are stored once with their durations added (Pillow does this), so a GIF
may hold fewer frames than were recorded while playing for the same time. Pillow is used directly (it is a
matplotlib dependency): every frame keeps its exact colours, as an Atari frame has far fewer than 256.

Usage: ``python -m sb3_dqn_paper.tools.record MODEL.zip --env BreakoutNoFrameskip-v4 --out play.gif [--steps N]``.
"""

import argparse
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sb3_dqn_paper.atari import is_atari_env_id
from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.errors import InvalidArgumentError, RenderError
from sb3_dqn_paper.tools.common import (
    check_model_matches_env,
    check_output_path,
    load_model,
    make_evaluation_env,
    parse_env_kwargs,
    run_tool,
    seed_argument,
)
from sb3_dqn_paper.tools.evaluate import PAPER_EVAL_EPSILON, EpsilonGreedy, check_epsilon, check_n_steps

#: The Atari 2600's frame rate (NTSC), in frames per second.
ATARI_FPS = 60
#: Agent steps recorded by default.
DEFAULT_STEPS = 1_000


@dataclass
class Recording:
    """
    The frames of a recording and what happened in the game.

    :param frames: RGB frames, each ``(height, width, 3)`` uint8: the frame after reset, then one per agent step
    :param frame_duration_ms: How long each frame is shown, in milliseconds (a multiple of 10)
    :param scores: Unclipped scores of the games that ended during the recording
    """

    frames: list[np.ndarray]
    frame_duration_ms: int
    scores: list[float] = field(default_factory=list)


def frame_duration_ms(env_id: str, env: Any) -> int:
    """
    Real-time duration of one recorded frame, rounded to GIF's 10 ms resolution.

    :param env_id: Gymnasium id
    :param env: The env (its ``metadata["render_fps"]`` is used for non-Atari envs)
    :return: Milliseconds, a positive multiple of 10
    """
    if is_atari_env_id(env_id):
        from sb3_dqn_paper.atari import paper_frame_skip

        fps = ATARI_FPS / paper_frame_skip(env_id)
    else:
        fps = float(env.metadata.get("render_fps") or 30)
    return max(10, round(1000.0 / fps / 10.0) * 10)


def record_frames(
    model: Any,
    env_id: str,
    n_steps: int = DEFAULT_STEPS,
    epsilon: float = PAPER_EVAL_EPSILON,
    seed: int = 0,
    noop_max: int = 30,
    env_kwargs: dict[str, Any] | None = None,
    until_game_end: bool = False,
    device: str = "auto",
) -> Recording:
    """
    Play ``n_steps`` agent steps with the epsilon-greedy policy and keep the emulator's RGB frame after each.

    :param model: A PaperDQN model, or the path of one
    :param env_id: Gymnasium id
    :param n_steps: Agent steps to play
    :param epsilon: Probability of a random action (the paper's evaluation: 0.05)
    :param seed: Seed of the env and of the epsilon draws
    :param noop_max: Maximum number of no-ops at the start of each game (Atari only)
    :param env_kwargs: Keyword arguments for ``gym.make``
    :param until_game_end: Stop when the first game ends (its last frame is then the last one before the end)
    :param device: Torch device to load a model file on
    :return: ``n_steps + 1`` frames (fewer with ``until_game_end``), their duration and the games' scores
    :raises ValueError: for bad settings or an env the model was not trained on
    :raises InvalidModelFileError: if ``model`` is a path that is not a PaperDQN save
    """
    check_n_steps(n_steps)
    check_epsilon(epsilon)
    is_atari_env_id(env_id, env_kwargs)
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model, device=device)
    env = make_evaluation_env(env_id, seed=seed, noop_max=noop_max, env_kwargs=env_kwargs, render=True)
    try:
        check_model_matches_env(model, env, env_id)
        recording = Recording(frames=[], frame_duration_ms=frame_duration_ms(env_id, env))
        actor = EpsilonGreedy(model, int(env.action_space.n), epsilon, seed)
        observation = env.reset()
        recording.frames.append(_frame(env))
        for _ in range(n_steps):
            observation, _, dones, infos = env.step(actor(observation))
            if dones[0] and "episode" in infos[0]:  # game over (a life loss ends only the agent's episode)
                recording.scores.append(float(infos[0]["episode"]["r"]))
                if until_game_end:
                    # The env has already reset: its frame belongs to the next game
                    break
            recording.frames.append(_frame(env))
    finally:
        env.close()
    return recording


def _frame(env: Any) -> np.ndarray:
    image = env.get_images()[0]
    if image is None:
        raise RenderError("The env rendered no RGB frame (render_mode is not 'rgb_array')")
    return np.asarray(image, dtype=np.uint8)


def write_gif(frames: Sequence[np.ndarray], path: str, duration_ms: int, overwrite: bool = False) -> None:
    """
    Write RGB frames as a looping GIF, atomically (a crash or a full disk leaves the previous file, or none).

    :param frames: ``(height, width, 3)`` uint8 frames, all of one size
    :param path: Destination ``.gif`` file
    :param duration_ms: Duration of each frame in milliseconds
    :param overwrite: Replace an existing file
    :raises ValueError: for no frames or frames of different sizes
    :raises OutputExistsError: if the file exists and ``overwrite`` is false
    :raises SaveError: if the file cannot be written, naming it
    """
    from PIL import Image

    if not frames:
        raise InvalidArgumentError("no frames to write")
    if len({frame.shape for frame in frames}) != 1:
        raise InvalidArgumentError(f"frames of different shapes: {sorted({frame.shape for frame in frames})}")
    check_output_path(path, overwrite)
    images = [Image.fromarray(frame) for frame in frames]
    gif = io.BytesIO()
    images[0].save(gif, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0, optimize=False)
    atomic_write_files({path: gif.getvalue()})


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.record``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.record",
        description="Record a PaperDQN model playing, as a GIF of the emulator's RGB frames (210x160 for Atari).",
    )
    parser.add_argument("model", help="model file saved by PaperDQN.save (.zip)")
    parser.add_argument("--env", required=True, help="Gymnasium id, e.g. BreakoutNoFrameskip-v4")
    parser.add_argument("--out", required=True, help="GIF file to write, e.g. play.gif")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"agent steps to play (default {DEFAULT_STEPS:,})")
    parser.add_argument(
        "--epsilon", type=float, default=PAPER_EVAL_EPSILON, help=f"random-action probability (default {PAPER_EVAL_EPSILON})"
    )
    parser.add_argument("--seed", type=seed_argument, default=0, help="seed of the env and of the epsilon draws (default 0)")
    parser.add_argument("--noop-max", type=int, default=30, help="max no-ops at the start of a game (Atari; default 30)")
    parser.add_argument("--until-game-end", action="store_true", help="stop when the first game ends")
    parser.add_argument(
        "--env-kwargs", nargs="*", metavar="KEY=VALUE", help="keyword arguments for gym.make, e.g. frameskip=1"
    )
    parser.add_argument("--device", default="auto", help="torch device (default auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace the --out file if it exists")
    return parser


def run(args: argparse.Namespace) -> int:
    """
    Record the GIF of the parsed command line.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    if not args.out.lower().endswith(".gif"):
        raise InvalidArgumentError(f"--out must name a .gif file, got {args.out!r}")
    check_n_steps(args.steps)
    check_epsilon(args.epsilon)
    check_output_path(args.out, args.overwrite)
    recording = record_frames(
        args.model,
        args.env,
        n_steps=args.steps,
        epsilon=args.epsilon,
        seed=args.seed,
        noop_max=args.noop_max,
        env_kwargs=parse_env_kwargs(args.env_kwargs),
        until_game_end=args.until_game_end,
        device=args.device,
    )
    write_gif(recording.frames, args.out, recording.frame_duration_ms, overwrite=args.overwrite)
    height, width = recording.frames[0].shape[:2]
    games = ", ".join(f"{score:g}" for score in recording.scores) or "none"
    stored = sum(not np.array_equal(a, b) for a, b in zip(recording.frames, recording.frames[1:], strict=False)) + 1
    print(
        f"wrote {args.out}: {len(recording.frames)} frames of {height}x{width}, {recording.frame_duration_ms} ms each "
        f"(the GIF stores {stored} of them, a run of identical frames once; {os.path.getsize(args.out) / 1024:.0f} KiB); "
        f"scores of the games that ended: {games}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.record``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
