"""
Replay memory benchmark: bytes per transition and ``sample()`` time of replay buffers on the same data.

The buffers: SB3's ``ReplayBuffer``, SB3's ``ReplayBuffer`` with ``optimize_memory_usage=True`` (which needs
``handle_timeout_termination=False``), :class:`~sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer`, and the same with
``compression="zstd"`` or ``"lz4"``. Each is filled with the same ``N`` transitions of ``(4, 84, 84)`` frame stacks,
made by SB3's ``VecFrameStack`` and ``VecTransposeImage`` (what PaperDQN sees) over either a synthetic Atari-like env
(a fixed playfield, a moving paddle and ball, a score strip, random episode lengths and ends) or real ALE games played
at random (``--env table1``: the seven games of the paper's Table 1). A real game is played once, in this process,
and its frames, rewards and episode ends are recorded; every buffer is then filled from that recording, played back
through the same ``VecFrameStack``, so all buffers of a game store the same transitions.

Each buffer runs in a fresh Python subprocess, so that its cost is the growth of that process's resident memory
(RSS) from just before the buffer is built to just after it is filled, not the size of its arrays (both are printed).
Then ``sample(batch_size)`` is timed over many batches. With ``--train-steps``, PaperDQN also trains on Breakout with
each FrameStackReplayBuffer variant in one process, in alternating segments, for agent steps per second.
Run ``python -m sb3_dqn_paper.benchmarks.memory --help``. Timings depend on the machine and on what else runs on it.
"""

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

#: The buffers compared, by command-line name.
BUFFERS = {
    "sb3": "SB3 ReplayBuffer",
    "sb3-optimized": "SB3 ReplayBuffer, optimize_memory_usage",
    "framestack": "FrameStackReplayBuffer",
    "framestack-zstd": "FrameStackReplayBuffer, compression=zstd",
    "framestack-lz4": "FrameStackReplayBuffer, compression=lz4",
}
FRAME_SIZE = 84
FRAME_STACK = 4
#: The seven games of the paper's Table 1 (``--env table1``).
TABLE1_GAMES = [
    f"{game}NoFrameskip-v4" for game in ("BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest", "SpaceInvaders")
]
#: Buffers run by default.
DEFAULT_BUFFERS = ["sb3", "sb3-optimized", "framestack", "framestack-zstd"]


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


def record_game(env_id: str, n_steps: int, seed: int, path: str) -> dict[str, Any]:
    """
    Play ``env_id`` at random through the paper's pipeline (one env) and save its frames, rewards and episode ends.

    :param env_id: Atari id, e.g. ``"BreakoutNoFrameskip-v4"``
    :param n_steps: Agent steps to record
    :param seed: Seed of the env and of the random actions
    :param path: ``.npz`` file written
    :return: Counts: steps, episodes
    """
    from sb3_dqn_paper.atari import make_paper_atari_env

    venv = make_paper_atari_env(env_id, n_envs=1, seed=seed, frame_stack=1)
    venv.seed(seed)
    rng = np.random.default_rng(seed)
    first = venv.reset()[0]
    frames = np.empty((n_steps, *first.shape), dtype=np.uint8)
    rewards = np.empty(n_steps, dtype=np.float32)
    terminated = np.zeros(n_steps, dtype=bool)
    truncated = np.zeros(n_steps, dtype=bool)
    reset_frames = []
    for t in range(n_steps):
        obs, reward, done, infos = venv.step(rng.integers(0, venv.action_space.n, size=1))
        rewards[t] = reward[0]
        if done[0]:
            frames[t] = infos[0]["terminal_observation"]
            truncated[t] = bool(infos[0].get("TimeLimit.truncated", False))
            terminated[t] = not truncated[t]
            reset_frames.append(obs[0])
        else:
            frames[t] = obs[0]
    venv.close()
    np.savez(
        path,
        first=first,
        frames=frames,
        rewards=rewards,
        terminated=terminated,
        truncated=truncated,
        reset_frames=np.array(reset_frames, dtype=np.uint8).reshape(-1, *first.shape),
        n_actions=venv.action_space.n,
    )
    return {"steps": n_steps, "episodes": len(reset_frames)}


def make_playback_env(path: str) -> Any:
    """
    A ``gymnasium.Env`` that replays a recording of :func:`record_game` (whatever the actions).

    :param path: The ``.npz`` recording
    :return: The env
    """
    import gymnasium as gym
    from gymnasium import spaces

    record = dict(np.load(path))

    class Playback(gym.Env):
        observation_space = spaces.Box(0, 255, record["first"].shape, np.uint8)
        action_space = spaces.Discrete(int(record["n_actions"]))

        def __init__(self) -> None:
            self.t = self.episodes = 0
            self.pending = record["first"]

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
            super().reset(seed=seed)
            return self.pending, {}

        def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
            if self.t >= len(record["frames"]):
                raise RuntimeError(f"the recording {path} has only {self.t} steps")
            t, self.t = self.t, self.t + 1
            frame = record["frames"][t]
            if record["terminated"][t] or record["truncated"][t]:
                self.pending, self.episodes = record["reset_frames"][self.episodes], self.episodes + 1
            else:
                self.pending = frame  # a reset without an episode end starts from the current screen
            return frame, float(record["rewards"][t]), bool(record["terminated"][t]), bool(record["truncated"][t]), {}

    return Playback()


def make_source(args: argparse.Namespace) -> Any:
    """The frame-stacked, channel-first ``VecEnv`` the transitions come from."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecTransposeImage

    if args.env == "synthetic":
        fns = [lambda i=i: make_synthetic_env(args.seed + i, args.min_episode, args.max_episode) for i in range(args.n_envs)]
        venv = VecFrameStack(DummyVecEnv(fns), n_stack=FRAME_STACK)
    else:
        venv = VecFrameStack(DummyVecEnv([lambda: make_playback_env(args.playback)]), n_stack=FRAME_STACK)
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
    compression = name.split("-")[1] if "-" in name else None
    buffer = FrameStackReplayBuffer(n, venv.observation_space, venv.action_space, compression=compression, **common)
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
    cpu_start = time.process_time()
    for i in range(args.batches):
        start = time.perf_counter()
        buffer.sample(args.batch_size)
        times[i] = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    result = {
        "buffer": args.child,
        "transitions": transitions_stored,
        "episodes": episodes,
        "rss_bytes": rss_after - rss_before,
        "array_bytes": array_bytes(buffer),
        "add_us": 1e6 * add_seconds / n_steps,
        "sample_median_us": 1e6 * float(np.median(times)),
        "sample_mean_us": 1e6 * float(np.mean(times)),
        # CPU time of this process: on a shared machine, less disturbed by other processes than wall time
        "sample_cpu_us": 1e6 * cpu_seconds / args.batches,
    }
    if hasattr(buffer, "valid_mask"):
        result["valid_fraction"] = float(buffer.valid_mask().sum() / transitions_stored)
    if getattr(buffer, "compression", None) is not None:
        result["array_bytes"] = sum(buffer.memory_usage().values())
        result["compressed_frame_bytes"] = buffer.compressed_payload_bytes / buffer.compressed_frame_count
    return result


def estimated_bytes(name: str, n: int) -> int:
    """Rough memory a buffer of ``n`` 84x84x4 transitions takes, to refuse runs the machine cannot hold."""
    per_transition = {"sb3": 2 * FRAME_STACK * FRAME_SIZE**2 + 32, "sb3-optimized": FRAME_STACK * FRAME_SIZE**2 + 32}
    return n * per_transition.get(name, 7_100 if name == "framestack" else 2_000)


def format_table(results: list[dict[str, Any]]) -> str:
    """The results side by side, one row per buffer."""
    header = (
        f"{'buffer':<40} {'bytes/transition (RSS)':>23} {'(arrays)':>10} "
        f"{'sample() median':>16} {'mean':>9} {'CPU':>9} {'add()/step':>11} {'valid rows':>11} {'episodes':>9}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        n = result["transitions"]
        valid = f"{100 * result['valid_fraction']:.2f}%" if "valid_fraction" in result else "100%"
        lines.append(
            f"{BUFFERS[result['buffer']]:<40} {result['rss_bytes'] / n:>23,.0f} {result['array_bytes'] / n:>10,.0f} "
            f"{result['sample_median_us']:>13,.0f} us {result['sample_mean_us']:>6,.0f} us "
            f"{result['sample_cpu_us']:>6,.0f} us "
            f"{result['add_us']:>8,.1f} us {valid:>11} {result['episodes']:>9,}"
        )
    return "\n".join(lines)


def format_summary(per_game: dict[str, list[dict[str, Any]]]) -> str:
    """
    One row per game: bytes per transition (RSS growth) and sample() CPU time of every buffer, then the mean.

    :param per_game: Game -> the results of its buffers
    :return: The table
    """
    names = [result["buffer"] for result in next(iter(per_game.values()))]
    header = f"{'game':<26}" + "".join(f" {name + ' B/tr':>22}" for name in names)
    header += "".join(f" {name + ' sample CPU':>25}" for name in names)
    lines = [header, "-" * len(header)]
    rows = []
    for game, results in per_game.items():
        by_name = {result["buffer"]: result for result in results}
        row = [by_name[name]["rss_bytes"] / by_name[name]["transitions"] for name in names]
        row += [by_name[name]["sample_cpu_us"] for name in names]
        rows.append(row)
        lines.append(
            f"{game:<26}"
            + "".join(f" {value:>22,.0f}" for value in row[: len(names)])
            + "".join(f" {value:>22,.0f} us" for value in row[len(names) :])
        )
    mean = np.mean(rows, axis=0)
    lines.append(
        f"{'mean':<26}"
        + "".join(f" {value:>22,.0f}" for value in mean[: len(names)])
        + "".join(f" {value:>22,.0f} us" for value in mean[len(names) :])
    )
    return "\n".join(lines)


def train_speed(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """
    Agent steps per second of PaperDQN on Breakout with each FrameStackReplayBuffer variant, in one process.

    Each model gets its own env (same seed) and the paper's settings, one update per agent step after
    ``learning_starts``; then ``learn(segment)`` calls of the models alternate, the order flipping every round, so
    that load from other processes hits them alike.

    :param args: ``--train-steps``, ``--train-segment``, ``--buffers``, ``--seed``
    :return: Buffer name -> agent steps per second of wall time and of this process's CPU time, over the timed segments
    """
    import torch as th

    from sb3_dqn_paper.atari import make_paper_atari_env
    from sb3_dqn_paper.paper_dqn import PaperDQN

    th.set_num_threads(1)
    names = [name for name in args.buffers if name.startswith("framestack")]
    models = {}
    for name in names:
        compression = name.split("-")[1] if "-" in name else None
        models[name] = PaperDQN(
            "CnnPolicy",
            make_paper_atari_env("BreakoutNoFrameskip-v4", n_envs=1, seed=args.seed),
            buffer_size=args.train_steps + 2_000,
            learning_starts=1_000,
            exploration_initial_eps=0.1,
            exploration_final_eps=0.1,
            replay_buffer_kwargs=dict(compression=compression),
            seed=args.seed,
            device="cpu",
        )
        models[name].learn(1_100)  # fills learning_starts and takes the first updates
    seconds = dict.fromkeys(names, 0.0)
    cpu_seconds = dict.fromkeys(names, 0.0)
    steps = dict.fromkeys(names, 0)
    rounds = max(1, args.train_steps // args.train_segment)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            start, cpu_start = time.perf_counter(), time.process_time()
            models[name].learn(args.train_segment, reset_num_timesteps=False)
            seconds[name] += time.perf_counter() - start
            cpu_seconds[name] += time.process_time() - cpu_start
            steps[name] += args.train_segment
    return {name: {"wall": steps[name] / seconds[name], "cpu": steps[name] / cpu_seconds[name]} for name in names}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.benchmarks.memory",
        description=(
            "Fill N transitions of 4x84x84 frame stacks into SB3's ReplayBuffer, SB3's with optimize_memory_usage, "
            "and FrameStackReplayBuffer (raw or compressed frames), each in a fresh subprocess; print bytes per "
            "transition (resident memory growth) and sample() time per batch side by side."
        ),
    )
    parser.add_argument("--n", type=int, default=50_000, help="transitions per buffer (= buffer size)")
    parser.add_argument("--n-envs", type=int, default=1, help="parallel envs feeding the buffer (synthetic env only)")
    parser.add_argument("--batch-size", type=int, default=32, help="minibatch size of sample()")
    parser.add_argument("--batches", type=int, default=2_000, help="sample() calls timed")
    parser.add_argument(
        "--env",
        default="synthetic",
        help="'synthetic' (Atari-like frames), an Atari id (e.g. BreakoutNoFrameskip-v4) played at random, or "
        "'table1' for the seven games of the paper's Table 1",
    )
    parser.add_argument("--min-episode", type=int, default=20, help="shortest synthetic episode, in steps")
    parser.add_argument("--max-episode", type=int, default=400, help="longest synthetic episode, in steps")
    parser.add_argument("--buffers", nargs="+", choices=list(BUFFERS), default=DEFAULT_BUFFERS, help="buffers to run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the env and of sample()")
    parser.add_argument(
        "--train-steps",
        type=int,
        default=0,
        help="also time this many PaperDQN agent steps on Breakout per FrameStackReplayBuffer variant (0: no)",
    )
    parser.add_argument("--train-segment", type=int, default=250, help="agent steps per alternating training segment")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--child", choices=sorted(BUFFERS), help=argparse.SUPPRESS)
    parser.add_argument("--playback", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n < args.n_envs or args.n_envs < 1 or args.batch_size < 1 or args.batches < 1:
        parser.error("need --n >= --n-envs >= 1, --batch-size >= 1 and --batches >= 1")
    if not 1 <= args.min_episode <= args.max_episode:
        parser.error("need 1 <= --min-episode <= --max-episode")
    if args.env != "synthetic" and args.n_envs != 1:
        parser.error("real games are recorded with one env: --n-envs 1")
    if args.train_steps < 0 or args.train_segment < 1:
        parser.error("need --train-steps >= 0 and --train-segment >= 1")
    if args.train_steps and not any(name.startswith("framestack") for name in args.buffers):
        parser.error("--train-steps compares the FrameStackReplayBuffer variants: include one in --buffers")
    return args


def run_buffers(args: argparse.Namespace, argv: list[str], playback: str | None) -> list[dict[str, Any]]:
    """Run every buffer of ``args.buffers`` in its own subprocess on the same transitions; return their results."""
    from sb3_dqn_paper.memory_check import available_memory_bytes

    results = []
    for name in args.buffers:
        available = available_memory_bytes()
        if estimated_bytes(name, args.n) > 0.9 * available:
            needed = estimated_bytes(name, args.n)
            print(f"skipped {BUFFERS[name]}: needs ~{needed / 1e9:.1f} GB, {available / 1e9:.1f} GB available")
            continue
        command = [sys.executable, "-m", "sb3_dqn_paper.benchmarks.memory", *argv, "--child", name]
        if playback is not None:
            command += ["--playback", playback]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        child = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"the {name} run failed:\n{child.stderr}")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_one(args)))
        return
    argv = list(argv if argv is not None else sys.argv[1:])

    from sb3_dqn_paper.memory_check import available_memory_bytes

    games = TABLE1_GAMES if args.env == "table1" else [args.env]
    print(
        f"{args.n:,} transitions of {FRAME_STACK}x{FRAME_SIZE}x{FRAME_SIZE} stacks per buffer from "
        f"{', '.join(games)} ({'random play, ' if args.env != 'synthetic' else ''}{args.n_envs} env(s)), "
        f"sample({args.batch_size}) timed over {args.batches:,} batches; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{available_memory_bytes() / 1e9:.1f} GB available at start",
        flush=True,
    )
    per_game: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for game in games:
            playback = None
            if game != "synthetic":
                playback = os.path.join(folder, f"{game}.npz")
                # the children's warm-up takes 40 steps before the n measured ones
                counts = record_game(game, args.n + 40, args.seed, playback)
                print(f"{game}: recorded {counts['steps']:,} steps of random play, {counts['episodes']:,} episodes")
            per_game[game] = run_buffers(args, [*argv, "--env", game], playback)  # the last --env wins
            print(format_table(per_game[game]), flush=True)
    if len(games) > 1:
        print("\nBytes per transition (resident memory growth) and CPU time per sample(), per game:")
        print(format_summary(per_game))
    speeds = train_speed(args) if args.train_steps else None
    if speeds is not None:
        print(
            f"\nPaperDQN on BreakoutNoFrameskip-v4, {args.train_steps:,} agent steps per buffer after learning_starts, "
            f"segments of {args.train_segment} alternating:"
        )
        for name, speed in speeds.items():
            print(f"  {BUFFERS[name]:<40} {speed['wall']:8.1f} agent steps/s, {speed['cpu']:8.1f} per CPU second")
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"per_game": per_game, "train_steps_per_second": speeds}, file, indent=2)


if __name__ == "__main__":
    main()
