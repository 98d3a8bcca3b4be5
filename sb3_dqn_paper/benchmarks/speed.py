"""
Training speed of PaperDQN against Stable-Baselines3's DQN doing the same work, side by side in one process.

Usage::

    OMP_NUM_THREADS=1 python -m sb3_dqn_paper.benchmarks.speed --device cpu --steps 2000 --threads 1

What is compared. Each system trains on its own copy of the same Atari pipeline
(:func:`~sb3_dqn_paper.atari.make_paper_atari_env`, one env, same seed) with the paper's network
(:class:`~sb3_dqn_paper.policies.PaperCNN`), :class:`~sb3_dqn_paper.rmsprop.CenteredRMSprop` with the same
constants, minibatch 32, one gradient step per agent step (``train_freq=1``), the same replay capacity and
``learning_starts``, and the same constant epsilon (0.1 by default: the value over 90 % of a paper run, where
most steps need an acting forward). What still differs is SB3's DQN's own and is printed in the report:

- SB3's DQN always has a target network. It gets a ``target_update_interval`` far beyond the run, so it never
  syncs; its TD target costs one no-grad forward, like PaperDQN's TD target on the online network.
- SB3's DQN always uses the Huber loss and always calls ``clip_grad_norm_``; the norm limit is set so high that
  it never clips, but the norm is computed each update. PaperDQN (the paper) uses MSE and does not clip.
- Each uses its own default replay buffer class (both are printed).

How it is timed. A warm-up fills ``learning_starts`` and takes a few updates in both systems. Then short
segments ``learn(k, reset_num_timesteps=False)`` of the two alternate, the order flipping every round, so that
load from other processes hits both alike; steps/s is the total steps over the total time of a system's
segments. Then one instrumented round splits each system's wall time into env step, acting (the model's
epsilon-greedy ``predict``, whose greedy branch runs the forward), storing the transition, replay sample,
update and the rest (the rollout loop, callbacks, schedules, logging) by wrapping
those methods of the model with :func:`time.perf_counter`; on CUDA each timer synchronises the device first, so
the split says where the time goes rather than what overlaps. Then ``train(gradient_steps=1)`` runs alone (no env,
no acting) for each system: the floor of its agent step. Last, each env backend (``make_paper_atari_env`` and
:class:`~sb3_dqn_paper.ale_vector_env.AleVecEnv`) is stepped alone with random actions. Wall time and the process's
CPU time are both reported: on a shared CPU the second is less disturbed by other processes.
"""

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch as th

from sb3_dqn_paper.benchmarks.peak import gemm_peaks, share_of_peak
from sb3_dqn_paper.precision import cpu_isa, cpu_model

#: The pieces of an agent step that the instrumented round times, in the order they are printed.
PIECES = ("env step", "acting (predict)", "store transition", "replay sample", "update", "rest")

#: SB3's DQN always has a target network; an interval beyond any benchmark run means it never syncs.
NEVER = 10**12

#: Names of the two systems, in report order.
SB3_DQN = "SB3 DQN"
PAPER_DQN = "PaperDQN"


def check_device(device: str) -> None:
    """
    Refuse a ``--device`` the benchmarks cannot run on.

    :param device: ``cpu``, ``cuda`` or ``cuda:N``
    :raises ValueError: naming the problem
    """
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"--device must be cpu or cuda (or cuda:N), got {device!r}")
    if device.startswith("cuda") and not th.cuda.is_available():
        raise ValueError(f"--device {device}: this torch build or machine has no CUDA device")


@dataclass
class Settings:
    """
    What the benchmark runs.

    :param env_id: Gymnasium Atari id (no built-in frame skip)
    :param device: Torch device of both systems
    :param steps: Timed agent steps per system, over all segments
    :param segments: Number of timed segments per system
    :param buffer_size: Replay capacity of both systems (transitions)
    :param learning_starts: Random steps before the first update, in both systems
    :param warmup_updates: Agent steps with updates taken by each system after ``learning_starts``, before timing
    :param epsilon: Constant exploration rate of both systems
    :param split_steps: Agent steps of the instrumented round, per system (0 skips the split)
    :param update_steps: Calls of ``train(gradient_steps=1)`` alone per system, without env or acting (0 skips it)
    :param env_steps: Random-action steps per env backend in the env-speed measurement (0 skips it)
    :param threads: Torch intra-op threads (``None`` keeps torch's setting)
    :param seed: Seed of both systems and envs
    :param profile: Run the instrumented round under cProfile and keep the top functions
    :param paper_kwargs: Extra keyword arguments for PaperDQN (e.g. to try an option)
    """

    env_id: str = "PongNoFrameskip-v4"
    device: str = "cpu"
    steps: int = 3000
    segments: int = 10
    buffer_size: int = 10_000
    learning_starts: int = 1_000
    warmup_updates: int = 100
    epsilon: float = 0.1
    split_steps: int = 300
    update_steps: int = 200
    env_steps: int = 2000
    threads: int | None = None
    seed: int = 0
    profile: bool = False
    paper_kwargs: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse settings the benchmark cannot run, before anything is built."""
        check_device(self.device)
        if self.segments < 1:
            raise ValueError(f"--segments must be at least 1, got {self.segments}")
        if self.steps < self.segments:
            raise ValueError(f"--steps ({self.steps}) must be at least --segments ({self.segments})")
        if self.buffer_size < 32 or self.learning_starts < 32:
            raise ValueError("--buffer-size and --learning-starts must be at least the minibatch size, 32")
        if self.learning_starts > self.buffer_size:
            raise ValueError(f"--learning-starts ({self.learning_starts}) cannot exceed --buffer-size ({self.buffer_size})")
        if self.warmup_updates < 1:
            raise ValueError(f"--warmup-updates must be at least 1, got {self.warmup_updates}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"--epsilon must be in [0, 1], got {self.epsilon}")
        if self.split_steps < 0 or self.update_steps < 0 or self.env_steps < 0:
            raise ValueError("--split-steps, --update-steps and --env-steps must be >= 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {self.threads}")


def build_sb3_dqn(settings: Settings) -> Any:
    """
    SB3's DQN configured to PaperDQN's work (see the module docstring for what cannot be made equal).

    :param settings: Benchmark settings
    :return: The model, with its env built
    """
    from stable_baselines3 import DQN

    from sb3_dqn_paper.atari import make_paper_atari_env
    from sb3_dqn_paper.policies import PaperCNN
    from sb3_dqn_paper.rmsprop import DEEPMIND_DECAY, DEEPMIND_LR, CenteredRMSprop, deepmind_eps_for_mean_loss

    env = make_paper_atari_env(settings.env_id, n_envs=1, seed=settings.seed)
    policy_kwargs = dict(
        features_extractor_class=PaperCNN,
        net_arch=[],
        optimizer_class=CenteredRMSprop,
        optimizer_kwargs=dict(decay=DEEPMIND_DECAY, eps=deepmind_eps_for_mean_loss(32)),
    )
    return DQN(
        "CnnPolicy",
        env,
        learning_rate=DEEPMIND_LR,
        buffer_size=settings.buffer_size,
        learning_starts=settings.learning_starts,
        batch_size=32,
        gamma=0.99,
        train_freq=1,
        gradient_steps=1,
        target_update_interval=NEVER,
        exploration_initial_eps=settings.epsilon,
        exploration_final_eps=settings.epsilon,
        max_grad_norm=1e10,
        policy_kwargs=policy_kwargs,
        seed=settings.seed,
        device=settings.device,
    )


def build_paper_dqn(settings: Settings) -> Any:
    """
    PaperDQN with its defaults, but the benchmark's replay capacity, ``learning_starts`` and epsilon.

    :param settings: Benchmark settings
    :return: The model, with its env built
    """
    from sb3_dqn_paper.atari import make_paper_atari_env
    from sb3_dqn_paper.paper_dqn import PaperDQN

    env = make_paper_atari_env(settings.env_id, n_envs=1, seed=settings.seed)
    kwargs: dict[str, Any] = dict(
        buffer_size=settings.buffer_size,
        learning_starts=settings.learning_starts,
        exploration_initial_eps=settings.epsilon,
        exploration_final_eps=settings.epsilon,
        seed=settings.seed,
        device=settings.device,
    )
    kwargs.update(settings.paper_kwargs)
    return PaperDQN("CnnPolicy", env, **kwargs)


def update_flops(q_net: th.nn.Module, observation_shape: tuple[int, ...], batch_size: int = 32) -> dict[str, float]:
    """
    Floating-point operations of one update without a target network (multiply-adds count 2), from the shapes of
    the network's convolution and linear layers: a no-grad forward over the next observations and a forward over the
    observations (``2 * batch_size`` samples), then the backward pass over ``batch_size`` samples, which computes
    every layer's weight gradient and every layer's input gradient except the first layer's (its input is the
    data). Bias additions, activations, the loss and the optimizer are left out (under 1 % here).

    :param q_net: The Q-network (features extractor and head)
    :param observation_shape: Shape of one observation as the network takes it
    :param batch_size: Minibatch size
    :return: ``forward_per_sample``, ``first_layer_per_sample`` and ``update`` FLOPs
    """
    layers: list[float] = []

    def count(module: th.nn.Module, inputs: tuple[th.Tensor, ...], output: th.Tensor) -> None:
        if isinstance(module, th.nn.Conv2d):
            kernel = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            layers.append(2.0 * output[0].numel() * kernel)
        else:
            layers.append(2.0 * module.in_features * module.out_features)

    hooks = [m.register_forward_hook(count) for m in q_net.modules() if isinstance(m, (th.nn.Conv2d, th.nn.Linear))]
    try:
        with th.no_grad():
            q_net(th.zeros((1, *observation_shape), device=q_net.device))
    finally:
        for hook in hooks:
            hook.remove()
    forward = sum(layers)
    backward = forward + (forward - layers[0])
    return {
        "forward_per_sample": forward,
        "first_layer_per_sample": layers[0],
        "update": 2 * batch_size * forward + batch_size * backward,
    }


def _synchronizer(device: th.device) -> Callable[[], None]:
    """Return a function that waits for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        return lambda: th.cuda.synchronize(device)
    return lambda: None


class SplitTimer:
    """
    Times the pieces of an agent step by wrapping methods of one model (instance attributes, removed again by
    :meth:`remove`).

    :param model: An SB3 off-policy algorithm whose env, buffer and policy are built
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.sync = _synchronizer(model.device)
        self.seconds: dict[str, float] = dict.fromkeys([*PIECES, "train"], 0.0)
        self._wrapped: list[tuple[Any, str]] = []
        self._wrap(model.env, "step", "env step")
        self._wrap(model, "predict", "acting (predict)")
        self._wrap(model, "_store_transition", "store transition")
        self._wrap(model.replay_buffer, "sample", "replay sample")
        self._wrap(model, "train", "train")

    def _wrap(self, owner: Any, name: str, piece: str) -> None:
        original = getattr(owner, name)
        seconds = self.seconds
        sync = self.sync

        def timed(*args: Any, **kwargs: Any) -> Any:
            sync()
            start = time.perf_counter()
            result = original(*args, **kwargs)
            sync()
            seconds[piece] += time.perf_counter() - start
            return result

        setattr(owner, name, timed)
        self._wrapped.append((owner, name))

    def remove(self) -> None:
        """Restore the wrapped methods."""
        for owner, name in reversed(self._wrapped):
            delattr(owner, name)
        self._wrapped.clear()

    def split(self, wall_seconds: float, steps: int) -> dict[str, float]:
        """
        Milliseconds per agent step of each piece; the update excludes the replay sampling done inside ``train``.

        :param wall_seconds: Wall time of the instrumented segment
        :param steps: Agent steps in it
        :return: Milliseconds per step, by piece
        """
        per_step = {piece: self.seconds[piece] for piece in PIECES if piece not in ("update", "rest")}
        per_step["update"] = self.seconds["train"] - self.seconds["replay sample"]
        per_step["rest"] = wall_seconds - sum(per_step.values())
        return {piece: 1000.0 * per_step[piece] / steps for piece in PIECES}


def timed_learn(model: Any, steps: int) -> tuple[float, float]:
    """
    Continue training ``model`` for ``steps`` agent steps; return the wall time (device work included) and the
    CPU time of this process.

    :param model: The model
    :param steps: Agent steps
    :return: Wall seconds and process CPU seconds
    """
    sync = _synchronizer(model.device)
    sync()
    start, start_cpu = time.perf_counter(), time.process_time()
    model.learn(steps, reset_num_timesteps=False)
    sync()
    return time.perf_counter() - start, time.process_time() - start_cpu


def update_alone(models: dict[str, Any], calls: int, rounds: int = 4) -> dict[str, dict[str, float]]:
    """
    Milliseconds per ``train(gradient_steps=1, batch_size=32)`` call of each model, replay sampling included, no
    env step and no acting: the floor of each system's agent step. Rounds alternate between the models.

    :param models: Models by name, with filled replay buffers
    :param calls: Calls per model over all rounds
    :param rounds: Alternating rounds
    :return: Wall and process-CPU milliseconds per call, by model name
    """
    wall = dict.fromkeys(models, 0.0)
    cpu = dict.fromkeys(models, 0.0)
    per_round = max(1, calls // rounds)
    for round_ in range(rounds):
        names = list(models) if round_ % 2 == 0 else list(models)[::-1]
        for name in names:
            model = models[name]
            sync = _synchronizer(model.device)
            sync()
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(per_round):
                model.train(gradient_steps=1, batch_size=model.batch_size)
            sync()
            wall[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - start_cpu
    total = per_round * rounds
    return {name: {"wall_ms": 1000 * wall[name] / total, "cpu_ms": 1000 * cpu[name] / total} for name in models}


def env_backend_speed(settings: Settings) -> dict[str, float]:
    """
    Agent steps per second of each env backend alone, stepped with random actions, with 1 env and with one env per
    CPU core.

    :param settings: Benchmark settings (``env_id``, ``env_steps``, ``seed``)
    :return: Agent steps per second (over all envs) by backend and number of envs
    """
    from sb3_dqn_paper.ale_vector_env import ale_vector_env_available, make_ale_vector_env
    from sb3_dqn_paper.atari import make_paper_atari_env

    backends: dict[str, Callable[[int], Any]] = {
        "make_paper_atari_env (DummyVecEnv + AtariWrapper + VecFrameStack)": lambda n_envs: make_paper_atari_env(
            settings.env_id, n_envs=n_envs, seed=settings.seed
        ),
    }
    if ale_vector_env_available():
        backends["AleVecEnv (ale-py AtariVectorEnv, C++ threads)"] = lambda n_envs: make_ale_vector_env(
            settings.env_id, n_envs=n_envs, seed=settings.seed
        )
    speeds = {}
    rng = np.random.default_rng(settings.seed)
    for n_envs in sorted({1, os.cpu_count() or 1}):
        for name, make in backends.items():
            env = make(n_envs)
            env.reset()
            actions = rng.integers(env.action_space.n, size=(settings.env_steps, n_envs))
            start = time.perf_counter()
            for action in actions:
                env.step(action)
            speeds[f"{name}, {n_envs} env{'s' if n_envs > 1 else ''}"] = (
                settings.env_steps * n_envs / (time.perf_counter() - start)
            )
            env.close()
    return speeds


def versions() -> dict[str, str]:
    """Versions of Python and of the packages a run depends on."""
    import ale_py
    import gymnasium
    import stable_baselines3

    return {
        "python": platform.python_version(),
        "torch": th.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "ale_py": ale_py.__version__,
        "numpy": np.__version__,
    }


def system_info(settings: Settings) -> dict[str, Any]:
    """
    Versions, hardware and threads: what a reader needs to compare two runs of the benchmark.

    :param settings: Benchmark settings
    :return: A flat dict of descriptions
    """
    info: dict[str, Any] = {
        **versions(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": th.get_num_threads(),
        "torch_interop_threads": th.get_num_interop_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "device": settings.device,
        "cpu_isa": cpu_isa(),
    }
    if settings.device.startswith("cuda"):
        info["gpu"] = th.cuda.get_device_name(th.device(settings.device))
    if hasattr(os, "getloadavg"):
        info["load_average_1_5_15min_at_start"] = [round(load, 2) for load in os.getloadavg()]
    return info


def _profile_top(profiler: cProfile.Profile, top: int = 25) -> str:
    """The ``top`` functions of a cProfile run by own time."""
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    return stream.getvalue()


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """
    Run the whole benchmark.

    :param settings: Benchmark settings (checked first)
    :param log: Where progress lines go
    :return: Everything measured, JSON-serialisable
    """
    settings.check()
    if settings.threads is not None:
        th.set_num_threads(settings.threads)
    result: dict[str, Any] = {"settings": asdict(settings), "system": system_info(settings)}

    builders = {SB3_DQN: build_sb3_dqn, PAPER_DQN: build_paper_dqn}
    models = {name: build(settings) for name, build in builders.items()}
    result["replay_buffer_class"] = {name: type(model.replay_buffer).__name__ for name, model in models.items()}
    result["torch_threads_after_build"] = th.get_num_threads()
    paper = models[PAPER_DQN]
    result["update_flops"] = update_flops(paper.q_net, paper.observation_space.shape, paper.batch_size)

    warmup = settings.learning_starts + settings.warmup_updates
    for name, model in models.items():
        log(f"warm-up {name}: {warmup} steps ({settings.learning_starts} random, then updates)")
        model.learn(warmup)

    per_segment = settings.steps // settings.segments
    seconds: dict[str, list[float]] = {name: [] for name in models}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for segment in range(settings.segments):
        order = names if segment % 2 == 0 else names[::-1]
        for name in order:
            wall, cpu = timed_learn(models[name], per_segment)
            seconds[name].append(wall)
            cpu_seconds[name].append(cpu)
        log(
            f"segment {segment + 1}/{settings.segments}: "
            + ", ".join(f"{name} {per_segment / seconds[name][-1]:.1f} steps/s" for name in names)
        )
    throughput = {}
    for name in names:
        steps = per_segment * settings.segments
        throughput[name] = {
            "steps": steps,
            "seconds": sum(seconds[name]),
            "steps_per_s": steps / sum(seconds[name]),
            "cpu_seconds": sum(cpu_seconds[name]),
            "steps_per_cpu_s": steps / sum(cpu_seconds[name]),
            "segment_steps_per_s": [per_segment / s for s in seconds[name]],
        }
    result["throughput"] = throughput
    result["ratio"] = throughput[PAPER_DQN]["steps_per_s"] / throughput[SB3_DQN]["steps_per_s"]
    result["cpu_time_ratio"] = throughput[PAPER_DQN]["steps_per_cpu_s"] / throughput[SB3_DQN]["steps_per_cpu_s"]
    result["segment_ratios"] = [sb3 / paper for sb3, paper in zip(seconds[SB3_DQN], seconds[PAPER_DQN], strict=True)]

    if settings.split_steps > 0:
        result["split_ms_per_step"] = {}
        result["profile"] = {}
        for name in names:
            timer = SplitTimer(models[name])
            profiler = cProfile.Profile() if settings.profile else None
            if profiler is not None:
                profiler.enable()
            wall, _ = timed_learn(models[name], settings.split_steps)
            if profiler is not None:
                profiler.disable()
                result["profile"][name] = _profile_top(profiler)
            timer.remove()
            result["split_ms_per_step"][name] = timer.split(wall, settings.split_steps)
            log(f"instrumented round {name}: {settings.split_steps / wall:.1f} steps/s")

    if settings.update_steps > 0:
        log(f"update step alone: {settings.update_steps} train(gradient_steps=1) calls per system")
        result["update_alone_ms"] = update_alone(models, settings.update_steps)
    log("GEMM peak of this machine (2048x2048 matmul, the threads of the benchmark)")
    result["gemm_peak_gflops"] = gemm_peaks(device=settings.device)

    for model in models.values():
        model.env.close()
    if settings.env_steps > 0:
        log(f"env backends: {settings.env_steps} random steps each")
        result["env_steps_per_s"] = env_backend_speed(settings)
    if hasattr(os, "getloadavg"):
        result["system"]["load_average_1_5_15min_at_end"] = [round(load, 2) for load in os.getloadavg()]
    return result


def gflops(flops: dict[str, float], milliseconds: float) -> float:
    """GFLOP/s of one update done in ``milliseconds``."""
    return flops["update"] / (milliseconds * 1e6) if milliseconds > 0 else float("nan")


def _precision_of(name: str, settings: dict[str, Any]) -> str:
    """The precision a system's update runs in: SB3's DQN in fp32, PaperDQN in its ``precision`` argument."""
    return str(settings["paper_kwargs"].get("precision", "fp32")) if name == PAPER_DQN else "fp32"


def share_percent(rate: float, result: dict[str, Any], precision: str) -> str:
    """:return: ``rate`` as a percentage of the peak of its precision (``-`` without a native peak)"""
    peak = result["gemm_peak_gflops"].get(precision)
    return f"{100 * rate / peak:.0f} %" if peak else "-"


def format_report(result: dict[str, Any]) -> str:
    """
    The human-readable report of :func:`run`'s result.

    :param result: What :func:`run` returned
    :return: Text, one fact per line
    """
    settings = result["settings"]
    lines = ["== sb3_dqn_paper.benchmarks.speed =="]
    lines += [f"{key}: {value}" for key, value in result["system"].items()]
    lines.append(
        f"work: {settings['env_id']}, 1 env, PaperCNN, CenteredRMSprop, batch 32, train_freq=1 (one update per step), "
        f"buffer {settings['buffer_size']}, learning_starts {settings['learning_starts']}, epsilon {settings['epsilon']} "
        f"(constant), seed {settings['seed']}"
    )
    lines.append(
        f"SB3 DQN: target_update_interval={NEVER} (never syncs), Huber loss, clip_grad_norm_ at 1e10 (computed, "
        f"never clips); PaperDQN: no target network, MSE, no clipping; PaperDQN extra kwargs: {settings['paper_kwargs']}"
    )
    lines.append(f"replay buffers: {result['replay_buffer_class']}")
    flops = result["update_flops"]
    lines.append(
        f"work of one update (both systems): {flops['update'] / 1e9:.3f} GFLOP (forward "
        f"{flops['forward_per_sample'] / 1e6:.2f} MFLOP per sample, of which the first convolution "
        f"{flops['first_layer_per_sample'] / 1e6:.2f}; forward over 2 x 32 samples, backward over 32)"
    )
    lines.append(
        f"timing: {settings['segments']} alternating segments of {settings['steps'] // settings['segments']} steps "
        f"per system, after {settings['learning_starts'] + settings['warmup_updates']} warm-up steps each"
    )
    lines.append("")
    for name, numbers in result["throughput"].items():
        lines.append(
            f"{name:9s} {numbers['steps_per_s']:8.1f} steps/s  ({numbers['steps']} steps in {numbers['seconds']:.1f} s wall;"
            f" {numbers['steps_per_cpu_s']:.1f} steps per CPU-second of the process)"
        )
    ratios = result["segment_ratios"]
    lines.append(
        f"ratio PaperDQN / SB3 DQN: {result['ratio']:.2f}x  (per segment pair: min {min(ratios):.2f}, "
        f"median {float(np.median(ratios)):.2f}, max {max(ratios):.2f})"
    )
    lines.append(
        f"ratio in process CPU time: {result['cpu_time_ratio']:.2f}x  (less sensitive to other processes on a shared "
        "machine; on CUDA it leaves out GPU time, so read the wall-clock ratio there)"
    )
    if "split_ms_per_step" in result:
        lines.append("")
        lines.append("time split, ms per agent step (instrumented round):")
        names = list(result["split_ms_per_step"])
        lines.append(f"  {'piece':18s}" + "".join(f"{name:>12s}" for name in names))
        for piece in PIECES:
            lines.append(f"  {piece:18s}" + "".join(f"{result['split_ms_per_step'][name][piece]:12.3f}" for name in names))
        update_ms = {name: result["split_ms_per_step"][name]["update"] for name in names}
        lines.append(f"  {'update GFLOP/s':18s}" + "".join(f"{gflops(flops, update_ms[name]):12.1f}" for name in names))
        if "gemm_peak_gflops" in result:
            lines.append(
                f"  {'% of peak':18s}"
                + "".join(
                    f"{share_percent(gflops(flops, update_ms[name]), result, _precision_of(name, settings)):12s}"
                    for name in names
                )
            )
        totals = {name: sum(split.values()) for name, split in result["split_ms_per_step"].items()}
        lines.append(f"  {'total':18s}" + "".join(f"{totals[name]:12.3f}" for name in names))
    if "update_alone_ms" in result:
        lines.append("")
        lines.append("update step alone (train(gradient_steps=1): replay sample + update), ms per call:")
        for name, numbers in result["update_alone_ms"].items():
            rate = gflops(flops, numbers["wall_ms"])
            share = share_of_peak(rate, result.get("gemm_peak_gflops", {}), _precision_of(name, settings))
            lines.append(
                f"  {name:9s} {numbers['wall_ms']:8.2f} wall  {numbers['cpu_ms']:8.2f} process CPU  "
                f"({rate:.1f} GFLOP/s, sampling included; {share})"
            )
    if "gemm_peak_gflops" in result:
        lines.append("")
        peaks = result["gemm_peak_gflops"]
        lines.append(
            "GEMM peak (2048x2048 matmul, best of 10, same process): "
            + ", ".join(f"{name} {'not native' if value is None else f'{value:.1f} GFLOP/s'}" for name, value in peaks.items())
        )
    if "env_steps_per_s" in result:
        lines.append("")
        lines.append("env backends alone, random actions, agent steps/s over all envs:")
        for name, speed in result["env_steps_per_s"].items():
            lines.append(f"  {speed:8.1f} steps/s  {name}")
    for name, text in result.get("profile", {}).items():
        lines.append("")
        lines.append(f"cProfile of the instrumented round, {name}, by own time:")
        lines.append(text)
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> tuple[Settings, str | None]:
    """
    Parse the command line.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    :return: The settings and the JSON output path, if any
    """
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.benchmarks.speed",
        description="Train SB3's DQN and PaperDQN on the same work in alternating timed segments; print steps/s, "
        "their ratio and where the time goes.",
    )
    arguments: list[tuple[str, type, Any, str]] = [
        ("--device", str, defaults.device, "cpu, cuda or cuda:N"),
        ("--steps", int, defaults.steps, "timed agent steps per system"),
        ("--segments", int, defaults.segments, "alternating timed segments per system"),
        ("--env", str, defaults.env_id, "Atari id without built-in frame skip"),
        ("--buffer-size", int, defaults.buffer_size, "replay capacity of both systems"),
        ("--learning-starts", int, defaults.learning_starts, "random steps before the first update"),
        ("--warmup-updates", int, defaults.warmup_updates, "untimed steps with updates after learning-starts"),
        ("--epsilon", float, defaults.epsilon, "constant exploration rate of both systems"),
        ("--split-steps", int, defaults.split_steps, "steps of the instrumented round per system, 0 to skip"),
        ("--update-steps", int, defaults.update_steps, "train(1) calls alone per system, 0 to skip"),
        ("--env-steps", int, defaults.env_steps, "random steps per env backend alone, 0 to skip"),
        ("--seed", int, defaults.seed, "seed of both systems and envs"),
        ("--paper-kwargs", str, "{}", "JSON object of extra PaperDQN arguments"),
    ]
    for flag, kind, default, text in arguments:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's setting)")
    parser.add_argument("--profile", action="store_true", help="cProfile the instrumented round and print the top functions")
    parser.add_argument("--json", default=None, help="also write the full result to this JSON file")
    args = parser.parse_args(argv)
    try:
        paper_kwargs = json.loads(args.paper_kwargs)
    except json.JSONDecodeError as error:
        parser.error(f"--paper-kwargs is not valid JSON: {error}")
    if not isinstance(paper_kwargs, dict):
        parser.error(f"--paper-kwargs must be a JSON object, got {args.paper_kwargs!r}")
    settings = Settings(
        env_id=args.env,
        device=args.device,
        steps=args.steps,
        segments=args.segments,
        buffer_size=args.buffer_size,
        learning_starts=args.learning_starts,
        warmup_updates=args.warmup_updates,
        epsilon=args.epsilon,
        split_steps=args.split_steps,
        update_steps=args.update_steps,
        env_steps=args.env_steps,
        threads=args.threads,
        seed=args.seed,
        profile=args.profile,
        paper_kwargs=paper_kwargs,
    )
    try:
        settings.check()
    except ValueError as error:
        parser.error(str(error))
    return settings, args.json


def main(argv: Sequence[str] | None = None) -> None:
    """
    Command-line entry point.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    """
    settings, json_path = parse_args(argv)
    if json_path is not None and os.path.dirname(json_path) and not os.path.isdir(os.path.dirname(json_path)):
        raise SystemExit(f"--json: folder {os.path.dirname(json_path)!r} does not exist")
    from sb3_dqn_paper.atari import check_atari_env_id

    try:
        check_atari_env_id(settings.env_id)
    except ValueError as error:
        raise SystemExit(f"--env: {error}") from error
    result = run(settings, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_report(result))
    if json_path is not None:
        with open(json_path, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
