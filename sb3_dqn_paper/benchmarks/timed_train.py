"""
A training run of PaperDQN with the paper's defaults, stopped after a wall-clock budget: what a short GPU lease can
afford, with everything it measured written to one folder.

Usage::

    python -m sb3_dqn_paper.benchmarks.timed_train --device cuda --env BreakoutNoFrameskip-v4 \\
        --backend ale --n-envs 8 --seconds 240 --out-dir results/lease

What runs. ``PaperDQN("CnnPolicy", env)`` with every default of the paper (replay memory 1,000,000, 50,000 random
steps before the first update, minibatch 32, epsilon 1 -> 0.1 over 1,000,000 steps, no target network, MSE,
CenteredRMSprop); ``gradient_steps=-1`` keeps one update per agent step for any number of envs. The env is the
paper's pipeline (``--backend sb3``: :func:`~sb3_dqn_paper.atari.make_paper_atari_env`) or the fast C++ backend
(``--backend ale``: :class:`~sb3_dqn_paper.ale_vector_env.AleVecEnv`, whose small differences its module lists).
``--buffer-size`` and ``--learning-starts`` override the two defaults that a run of a few minutes on a small machine
cannot afford; the summary says which values were used.

What it writes into ``--out-dir`` (three files):

- ``model.zip``: the model at the end (``PaperDQN.save``; no replay buffer, which is gigabytes).
- ``monitor.csv``: one row per finished game, in SB3's ``Monitor`` format (``r``: game score, unclipped, all lives;
  ``l``: emulator frames; ``t``: seconds since the start of ``learn``), written from ``info["episode"]`` of every env.
- ``summary.json``: settings, versions, device, where the replay frames live, agent steps, updates, games, wall
  seconds of ``learn``, steps/s over the whole run and over the part after ``learning_starts`` (the part with one
  update per step), the mean score of the last 100 games, and a progress line every ``--progress-every`` seconds.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import ResultsWriter
from stable_baselines3.common.vec_env import VecEnv

from sb3_dqn_paper.benchmarks.speed import check_device, versions

#: What ``--backend`` accepts.
BACKENDS = ("sb3", "ale")
#: File names written into the output folder.
MODEL_FILE, MONITOR_FILE, SUMMARY_FILE = "model.zip", "monitor.csv", "summary.json"


@dataclass
class TrainSettings:
    """
    What the timed run trains.

    :param env_id: Gymnasium Atari id without built-in frame skip
    :param device: Torch device of the model
    :param backend: ``"sb3"`` (the paper's SB3 pipeline) or ``"ale"`` (:class:`AleVecEnv`)
    :param n_envs: Number of envs stepped together
    :param seconds: Wall-clock budget of ``learn``; it stops at the first agent step past it
    :param max_steps: Upper bound on agent steps (the paper trains 10,000,000)
    :param buffer_size: Replay capacity (``None``: the paper's 1,000,000)
    :param learning_starts: Random steps before the first update (``None``: PaperDQN's 50,000)
    :param precision: ``"fp32"`` or ``"bf16"`` (see :mod:`sb3_dqn_paper.precision`)
    :param seed: Seed of the model and envs
    :param progress_every: Seconds between progress records in the summary
    :param threads: Torch intra-op threads (``None`` keeps torch's setting)
    """

    env_id: str = "BreakoutNoFrameskip-v4"
    device: str = "cuda"
    backend: str = "ale"
    n_envs: int = 8
    seconds: float = 240.0
    max_steps: int = 10_000_000
    buffer_size: int | None = None
    learning_starts: int | None = None
    precision: str = "fp32"
    seed: int = 0
    progress_every: float = 10.0
    threads: int | None = None

    def check(self) -> None:
        """Refuse settings the run cannot use, before any env or buffer is built."""
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend must be one of {BACKENDS}, got {self.backend!r}")
        check_device(self.device)
        if self.n_envs < 1:
            raise ValueError(f"--n-envs must be at least 1, got {self.n_envs}")
        if not self.seconds > 0:
            raise ValueError(f"--seconds must be positive, got {self.seconds}")
        if self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.buffer_size is not None and self.buffer_size < 32:
            raise ValueError(f"--buffer-size must be at least the minibatch size, 32, got {self.buffer_size}")
        if self.learning_starts is not None and self.learning_starts < 0:
            raise ValueError(f"--learning-starts must be >= 0, got {self.learning_starts}")
        if not self.progress_every > 0:
            raise ValueError(f"--progress-every must be positive, got {self.progress_every}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {self.threads}")
        from sb3_dqn_paper.precision import check_precision

        check_precision(self.precision, th.device(self.device))
        if self.backend == "ale":
            from sb3_dqn_paper.ale_vector_env import ale_vector_env_available

            if not ale_vector_env_available():
                import ale_py

                raise ValueError(
                    f"--backend ale needs ale-py >= 0.12 (AtariVectorEnv); ale-py {ale_py.__version__} is installed"
                )
        from sb3_dqn_paper.atari import check_atari_env_id

        check_atari_env_id(self.env_id)


class TimedRun(BaseCallback):
    """
    Stops ``learn`` once the wall-clock budget is spent, writes every finished game to a Monitor CSV, and records
    when ``learning_starts`` was passed and how many steps were done at regular times.

    :param seconds: Wall-clock budget from the start of ``learn``
    :param monitor_path: Path of the CSV file to write
    :param learning_starts: The model's ``learning_starts``
    :param progress_every: Seconds between progress records
    """

    def __init__(self, seconds: float, monitor_path: str, learning_starts: int, progress_every: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.monitor_path = monitor_path
        self.learning_starts = learning_starts
        self.progress_every = progress_every
        self.scores: list[float] = []
        self.progress: list[dict[str, float]] = []
        self.start = 0.0
        self.end = 0.0
        self.learning_started_at: tuple[float, int] | None = None
        self._next_progress = 0.0
        self._writer: ResultsWriter | None = None

    def _on_training_start(self) -> None:
        # SB3's Monitor file format (its header line, then r,l,t), one row per finished game of any env
        self._writer = ResultsWriter(self.monitor_path, header={"t_start": time.time(), "env_id": "timed_train"})
        self.start = time.perf_counter()
        self._next_progress = self.progress_every

    def _on_step(self) -> bool:
        now = time.perf_counter() - self.start
        assert self._writer is not None
        for info in self.locals["infos"]:
            episode = info.get("episode")
            if episode is not None:
                self.scores.append(float(episode["r"]))
                self._writer.write_row({"r": float(episode["r"]), "l": int(episode["l"]), "t": round(now, 6)})
        if self.learning_started_at is None and self.num_timesteps >= self.learning_starts:
            self.learning_started_at = (now, self.num_timesteps)
        if now >= self._next_progress:
            self._next_progress += self.progress_every
            record = {"seconds": round(now, 3), "steps": self.num_timesteps, "updates": int(self.model._n_updates)}
            self.progress.append({**record, "games": len(self.scores)})
        return now < self.seconds

    def _on_training_end(self) -> None:
        self.end = time.perf_counter() - self.start
        if self._writer is not None:
            self._writer.close()


def build_env(settings: TrainSettings) -> VecEnv:
    """
    The training env of ``settings.backend``.

    :param settings: Run settings
    :return: The ``VecEnv``
    """
    if settings.backend == "ale":
        from sb3_dqn_paper.ale_vector_env import AleVecEnv

        return AleVecEnv(settings.env_id, n_envs=settings.n_envs, seed=settings.seed)
    from sb3_dqn_paper.atari import make_paper_atari_env

    return make_paper_atari_env(settings.env_id, n_envs=settings.n_envs, seed=settings.seed)


def run(settings: TrainSettings, out_dir: str, log: Any = print) -> dict[str, Any]:
    """
    Train for the budget, then write the model, the Monitor CSV and the summary into ``out_dir``.

    :param settings: Run settings (checked first)
    :param out_dir: An existing folder
    :param log: Where progress lines go
    :return: The summary (also written to ``summary.json``)
    """
    settings.check()
    if not os.path.isdir(out_dir):
        raise ValueError(f"--out-dir {out_dir!r} is not an existing folder")
    from sb3_dqn_paper.paper_dqn import PaperDQN

    if settings.threads is not None:
        th.set_num_threads(settings.threads)
    overrides: dict[str, Any] = {}
    if settings.buffer_size is not None:
        overrides["buffer_size"] = settings.buffer_size
    if settings.learning_starts is not None:
        overrides["learning_starts"] = settings.learning_starts
    env = build_env(settings)
    model = PaperDQN("CnnPolicy", env, precision=settings.precision, seed=settings.seed, device=settings.device, **overrides)
    callback = TimedRun(settings.seconds, os.path.join(out_dir, MONITOR_FILE), model.learning_starts, settings.progress_every)
    log(
        f"timed_train: {settings.env_id}, {settings.n_envs} env(s) ({settings.backend}), device {model.device}, "
        f"buffer {model.buffer_size}, learning_starts {model.learning_starts}, budget {settings.seconds:.0f} s"
    )
    model.learn(settings.max_steps, callback=callback)
    steps, updates = model.num_timesteps, int(model._n_updates)
    model.save(os.path.join(out_dir, MODEL_FILE))
    env.close()

    buffer = model.replay_buffer
    frames = getattr(buffer, "frames", None)
    summary: dict[str, Any] = {
        "settings": asdict(settings),
        "versions": versions(),
        "device": str(model.device),
        "gpu": th.cuda.get_device_name(model.device) if model.device.type == "cuda" else None,
        "cpu_count": os.cpu_count(),
        "torch_threads": th.get_num_threads(),
        "buffer_size": model.buffer_size,
        "learning_starts": model.learning_starts,
        "replay_buffer_class": type(buffer).__name__,
        "replay_frames_device": str(frames.device) if isinstance(frames, th.Tensor) else "cpu",
        "td_forward": "batched" if model.fast_update.batched else "separate",
        "steps": steps,
        "updates": updates,
        "games": len(callback.scores),
        "seconds": callback.end,
        "steps_per_s": steps / callback.end if callback.end > 0 else float("nan"),
        "stopped_by": "budget" if steps < settings.max_steps else "max_steps",
        "mean_score_last_100_games": float(np.mean(callback.scores[-100:])) if callback.scores else None,
        "progress": callback.progress,
    }
    if callback.learning_started_at is not None and callback.end > callback.learning_started_at[0]:
        seconds, at_step = callback.learning_started_at
        summary["after_learning_starts"] = {
            "steps": steps - at_step,
            "seconds": callback.end - seconds,
            "steps_per_s": (steps - at_step) / (callback.end - seconds),
            "updates_per_s": updates / (callback.end - seconds),
        }
    with open(os.path.join(out_dir, SUMMARY_FILE), "w") as file:
        json.dump(summary, file, indent=2)
    after = summary.get("after_learning_starts")
    log(
        f"timed_train: {steps} steps, {updates} updates, {len(callback.scores)} games in {callback.end:.1f} s "
        f"({summary['steps_per_s']:.1f} steps/s"
        + (f"; {after['steps_per_s']:.1f} steps/s with updates" if after else "; learning_starts not passed")
        + ")"
    )
    return summary


def parse_args(argv: Sequence[str] | None = None) -> tuple[TrainSettings, str]:
    """
    Parse the command line.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    :return: The settings and the output folder
    """
    defaults = TrainSettings()
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.benchmarks.timed_train",
        description="Train PaperDQN with the paper's defaults for a wall-clock budget; write the model, a Monitor "
        "CSV and a JSON summary (steps, updates, steps/s) into --out-dir.",
    )
    parser.add_argument("--out-dir", required=True, help="existing folder for model.zip, monitor.csv, summary.json")
    parser.add_argument("--env", default=defaults.env_id, help="Atari id without built-in frame skip (default: %(default)s)")
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--backend", default=defaults.backend, choices=BACKENDS, help="env backend (default: %(default)s)")
    parser.add_argument("--n-envs", type=int, default=defaults.n_envs, help="envs stepped together (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="wall-clock budget (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps, help="agent-step cap (default: %(default)s)")
    parser.add_argument("--buffer-size", type=int, default=None, help="replay capacity (default: the paper's 1,000,000)")
    parser.add_argument("--learning-starts", type=int, default=None, help="random steps first (default: PaperDQN's 50,000)")
    parser.add_argument("--precision", default=defaults.precision, help="fp32 or bf16 (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed (default: %(default)s)")
    parser.add_argument("--progress-every", type=float, default=defaults.progress_every, help="seconds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's setting)")
    args = parser.parse_args(argv)
    settings = TrainSettings(
        env_id=args.env,
        device=args.device,
        backend=args.backend,
        n_envs=args.n_envs,
        seconds=args.seconds,
        max_steps=args.max_steps,
        buffer_size=args.buffer_size,
        learning_starts=args.learning_starts,
        precision=args.precision,
        seed=args.seed,
        progress_every=args.progress_every,
        threads=args.threads,
    )
    try:
        settings.check()
    except ValueError as error:
        parser.error(str(error))
    if not os.path.isdir(args.out_dir):
        parser.error(f"--out-dir {args.out_dir!r} is not an existing folder")
    return settings, args.out_dir


def main(argv: Sequence[str] | None = None) -> None:
    """
    Command-line entry point.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    """
    settings, out_dir = parse_args(argv)
    run(settings, out_dir, log=lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    main()
