"""
Replay memory benchmark: bytes per transition and ``sample()`` time of three replay buffers on the same data.

The buffers: SB3's ``ReplayBuffer``, SB3's ``ReplayBuffer`` with ``optimize_memory_usage=True`` (which needs
``handle_timeout_termination=False``), and :class:`~sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer`. Each is filled
with the same ``N`` transitions of ``(4, 84, 84)`` frame stacks, made by SB3's ``VecFrameStack`` and
``VecTransposeImage`` (what PaperDQN sees) over either a synthetic Atari-like env (a fixed playfield, a moving paddle
and ball, a score strip, random episode lengths and ends) or a real ALE game played at random.

Each buffer runs in a fresh Python subprocess, so that its cost is the growth of that process's resident memory
(RSS) from just before the buffer is built to just after it is filled, not the size of its arrays (both are printed).
Then ``sample(batch_size)`` is timed over many batches. Run ``python -m sb3_dqn_paper.benchmarks.memory --help``.
Timings depend on the machine and on what else runs on it.
"""

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

import numpy as np

#: The buffers compared, by command-line name.
BUFFERS = {
    "sb3": "SB3 ReplayBuffer",
    "sb3-optimized": "SB3 ReplayBuffer, optimize_memory_usage",
    "framestack": "FrameStackReplayBuffer",
}
FRAME_SIZE = 84
FRAME_STACK = 4


def resident_bytes() -> int:
    """Resident set size of this process, in bytes (from ``/proc/self/statm``, else psutil)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


def make_synthetic_env(seed: int, min_episode: int, max_episode: int) -> Any:
    """
    An Atari-like env of 84x84x1 uint8 frames: a textured playfield, a paddle and a ball that move, a score strip.

    :param seed: Seed of the env's random generator
    :param min_episode: Shortest episode, in steps
    :param max_episode: Longest episode, in steps
    :return: The env (a ``gymnasium.Env``)
    """
    import gymnasium as gym
    from gymnasium import spaces

    class SyntheticAtari(gym.Env):
        observation_space = spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 1), np.uint8)
        action_space = spaces.Discrete(4)

        def __init__(self) -> None:
            rng = np.random.default_rng(seed)
            self.playfield = (rng.random((FRAME_SIZE, FRAME_SIZE, 1)) < 0.05).astype(np.uint8) * 90
            self.playfield[:8] = 40
            self.playfield[10:18, 4:80] = 142  # a row of bricks
            self.step_count = self.length = 0
            self.ball = np.zeros(2)
            self.velocity = np.zeros(2)
            self.paddle = 40

        def frame(self) -> np.ndarray:
            image = self.playfield.copy()
            image[2:7, 60 : 60 + (self.step_count % 20)] = 200  # score strip
            image[78:80, self.paddle : self.paddle + 12] = 200
            row, col = (int(v) for v in self.ball)
            image[row : row + 2, col : col + 2] = 255
            return image

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
            super().reset(seed=seed)
            self.length = int(self.np_random.integers(min_episode, max_episode + 1))
            self.step_count = 0
            self.ball = self.np_random.uniform(20, 60, size=2)
            self.velocity = self.np_random.uniform(-2, 2, size=2)
            return self.frame(), {}

        def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
            self.step_count += 1
            self.paddle = int(np.clip(self.paddle + (int(action) - 1.5) * 4, 0, FRAME_SIZE - 12))
            self.ball = self.ball + self.velocity
            for axis in range(2):
                if not 0 <= self.ball[axis] <= FRAME_SIZE - 2:
                    self.velocity[axis] *= -1
                    self.ball[axis] = np.clip(self.ball[axis], 0, FRAME_SIZE - 2)
            ended = self.step_count >= self.length
            terminated = ended and bool(self.np_random.random() < 0.9)
            return self.frame(), float(self.np_random.random() < 0.05), terminated, ended and not terminated, {}

    return SyntheticAtari()


def make_source(args: argparse.Namespace) -> Any:
    """The frame-stacked, channel-first ``VecEnv`` the transitions come from."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

    if args.env == "synthetic":
        fns = [lambda i=i: make_synthetic_env(args.seed + i, args.min_episode, args.max_episode) for i in range(args.n_envs)]
        venv = VecFrameStack(DummyVecEnv(fns), n_stack=FRAME_STACK)
    else:
        from sb3_dqn_paper.atari import make_paper_atari_env

        venv = make_paper_atari_env(args.env, n_envs=args.n_envs, seed=args.seed, frame_stack=FRAME_STACK)
    venv.seed(args.seed)
    return VecTransposeImage(venv)


def make_buffer(name: str, venv: Any, n: int) -> Any:
    """Build one of :data:`BUFFERS` for ``n`` transitions of ``venv``."""
    from stable_baselines3.common.buffers import ReplayBuffer

    from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer

    common = dict(device="cpu", n_envs=venv.num_envs)
    if name == "sb3":
        return ReplayBuffer(n, venv.observation_space, venv.action_space, **common)
    if name == "sb3-optimized":
        return ReplayBuffer(
            n,
            venv.observation_space,
            venv.action_space,
            optimize_memory_usage=True,
            handle_timeout_termination=False,
            **common,
        )
    buffer = FrameStackReplayBuffer(n, venv.observation_space, venv.action_space, **common)
    buffer.allocate()
    return buffer


def array_bytes(buffer: Any) -> int:
    """Bytes of the numpy arrays a buffer holds (what SB3's memory warning counts)."""
    return sum(value.nbytes for value in vars(buffer).values() if isinstance(value, np.ndarray))


def transitions(venv: Any, rng: np.random.Generator, n_steps: int) -> Any:
    """
    Step ``venv`` with random actions; yield what SB3's ``_store_transition`` passes to ``ReplayBuffer.add``.

    :return: A generator of ``(obs, next_obs, actions, rewards, dones, infos)``
    """
    obs = venv.reset()
    for _ in range(n_steps):
        actions = rng.integers(0, venv.action_space.n, size=venv.num_envs)
        new_obs, rewards, dones, infos = venv.step(actions)
        next_obs = new_obs.copy()
        for i, done in enumerate(dones):
            if done:
                next_obs[i] = infos[i]["terminal_observation"]
        yield obs, next_obs, actions, rewards, dones, infos
        obs = new_obs


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """Fill one buffer and time its ``sample``; runs in the child process."""
    import torch as th

    th.set_num_threads(1)
    venv = make_source(args)
    rng = np.random.default_rng(args.seed)
    # Warm-up with a small buffer of the same kind, so that imports and first calls are not counted
    small = make_buffer(args.child, venv, 64 * args.n_envs)
    for transition in transitions(venv, rng, 40):
        small.add(*transition)
    small.sample(args.batch_size)
    del small
    n_steps = args.n // args.n_envs
    episodes = 0
    gc.collect()
    rss_before = resident_bytes()
    buffer = make_buffer(args.child, venv, args.n)
    add_seconds = 0.0
    for transition in transitions(venv, rng, n_steps):
        episodes += int(transition[4].sum())
        start = time.perf_counter()
        buffer.add(*transition)
        add_seconds += time.perf_counter() - start
    gc.collect()
    rss_after = resident_bytes()
    transitions_stored = buffer.size() * args.n_envs

    np.random.seed(args.seed)
    for _ in range(min(50, args.batches)):  # warm-up
        buffer.sample(args.batch_size)
    times = np.empty(args.batches)
    for i in range(args.batches):
        start = time.perf_counter()
        buffer.sample(args.batch_size)
        times[i] = time.perf_counter() - start
    result = {
        "buffer": args.child,
        "transitions": transitions_stored,
        "episodes": episodes,
        "rss_bytes": rss_after - rss_before,
        "array_bytes": array_bytes(buffer),
        "add_us": 1e6 * add_seconds / n_steps,
        "sample_median_us": 1e6 * float(np.median(times)),
        "sample_mean_us": 1e6 * float(np.mean(times)),
    }
    if hasattr(buffer, "valid_mask"):
        result["valid_fraction"] = float(buffer.valid_mask().sum() / transitions_stored)
    return result


def estimated_bytes(name: str, n: int) -> int:
    """Rough memory a buffer of ``n`` 84x84x4 transitions takes, to refuse runs the machine cannot hold."""
    per_transition = {"sb3": 2 * FRAME_STACK * FRAME_SIZE**2 + 32, "sb3-optimized": FRAME_STACK * FRAME_SIZE**2 + 32}
    return n * per_transition.get(name, 7_100)


def format_table(results: list[dict[str, Any]]) -> str:
    """The results side by side, one row per buffer."""
    header = (
        f"{'buffer':<40} {'bytes/transition (RSS)':>23} {'(arrays)':>10} "
        f"{'sample() median':>16} {'mean':>9} {'add()/step':>11} {'valid rows':>11} {'episodes':>9}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        n = result["transitions"]
        valid = f"{100 * result['valid_fraction']:.2f}%" if "valid_fraction" in result else "100%"
        lines.append(
            f"{BUFFERS[result['buffer']]:<40} {result['rss_bytes'] / n:>23,.0f} {result['array_bytes'] / n:>10,.0f} "
            f"{result['sample_median_us']:>13,.0f} us {result['sample_mean_us']:>6,.0f} us "
            f"{result['add_us']:>8,.1f} us {valid:>11} {result['episodes']:>9,}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.benchmarks.memory",
        description=(
            "Fill N transitions of 4x84x84 frame stacks into SB3's ReplayBuffer, SB3's with optimize_memory_usage, "
            "and FrameStackReplayBuffer, each in a fresh subprocess; print bytes per transition (resident memory "
            "growth) and sample() time per batch side by side."
        ),
    )
    parser.add_argument("--n", type=int, default=50_000, help="transitions per buffer (= buffer size)")
    parser.add_argument("--n-envs", type=int, default=1, help="parallel envs feeding the buffer")
    parser.add_argument("--batch-size", type=int, default=32, help="minibatch size of sample()")
    parser.add_argument("--batches", type=int, default=2_000, help="sample() calls timed")
    parser.add_argument(
        "--env", default="synthetic", help="'synthetic' (Atari-like frames) or an Atari id, e.g. BreakoutNoFrameskip-v4"
    )
    parser.add_argument("--min-episode", type=int, default=20, help="shortest synthetic episode, in steps")
    parser.add_argument("--max-episode", type=int, default=400, help="longest synthetic episode, in steps")
    parser.add_argument("--buffers", nargs="+", choices=sorted(BUFFERS), default=list(BUFFERS), help="buffers to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the env and of sample()")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--child", choices=sorted(BUFFERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n < args.n_envs or args.n_envs < 1 or args.batch_size < 1 or args.batches < 1:
        parser.error("need --n >= --n-envs >= 1, --batch-size >= 1 and --batches >= 1")
    if not 1 <= args.min_episode <= args.max_episode:
        parser.error("need 1 <= --min-episode <= --max-episode")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args)))
        return

    from sb3_dqn_paper.replay_buffer import available_memory_bytes

    print(
        f"{args.n:,} transitions of {FRAME_STACK}x{FRAME_SIZE}x{FRAME_SIZE} stacks from {args.env} "
        f"({args.n_envs} env(s)), sample({args.batch_size}) timed over {args.batches:,} batches; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{available_memory_bytes() / 1e9:.1f} GB available at start",
        flush=True,
    )
    results = []
    for name in args.buffers:
        available = available_memory_bytes()
        if estimated_bytes(name, args.n) > 0.9 * available:
            needed = estimated_bytes(name, args.n)
            print(f"skipped {BUFFERS[name]}: needs ~{needed / 1e9:.1f} GB, {available / 1e9:.1f} GB available")
            continue
        command = [sys.executable, "-m", "sb3_dqn_paper.benchmarks.memory", *(argv if argv is not None else sys.argv[1:])]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        child = subprocess.run([*command, "--child", name], capture_output=True, text=True, env=env, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"the {name} run failed:\n{child.stderr}")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"  {BUFFERS[name]}: done", flush=True)
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
