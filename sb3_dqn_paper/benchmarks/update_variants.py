"""
Time PaperDQN's update under variants of its arithmetic, side by side in one process: the numbers behind the
"tried" table of ``docs/benchmarks.md``.

Usage::

    OMP_NUM_THREADS=2 python -m sb3_dqn_paper.benchmarks.update_variants --calls 200

Each variant is a PaperDQN on the paper's Breakout pipeline with the same weights and the same filled replay buffer
(``--fill`` random steps); ``train(gradient_steps=1)`` is called ``--calls`` times per variant in alternating rounds,
so that load from other processes hits all alike. Variants:

- ``fp32``: the default (channels-last on CPU, 1 torch thread);
- ``fp32, 2 threads``: the same with 2 intra-op threads;
- ``bf16``: ``precision="bf16"``;
- ``fp32, fused RMSprop`` and ``bf16, fused RMSprop``: ``CenteredRMSprop(fused=True)``, the step in one compiled pass
  per parameter (the first call compiles it: done in the warm-up);
- ``fp32, space-to-depth conv1`` and ``bf16, space-to-depth conv1``: the first convolution (16 filters 8x8, stride 4,
  on 4 channels) rewritten as a space-to-depth rearrangement of the input into 64 channels of 21x21 followed by a
  2x2 stride-1 convolution; the same function (the largest difference of the Q-values is printed), a better shape
  for matrix units. Measured here only: the package does not ship it, since it did not win on the machines measured.
"""

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch as th
from torch import nn

from sb3_dqn_paper.benchmarks.peak import gemm_peaks, share_of_peak
from sb3_dqn_paper.benchmarks.speed import gflops, update_flops
from sb3_dqn_paper.precision import cpu_isa


class SpaceToDepthConv(nn.Module):
    """
    An 8x8 stride-4 convolution on ``(N, C, 84, 84)`` computed as space-to-depth(4) then a 2x2 stride-1 convolution.

    :param conv: The convolution to rewrite (kernel 8, stride 4, no padding, input side a multiple of 4)
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        out_channels, in_channels = conv.out_channels, conv.in_channels
        # weight[o, c, 4a + i, 4b + j] -> weight[o, (c, i, j), a, b]
        weight = conv.weight.detach().reshape(out_channels, in_channels, 2, 4, 2, 4).permute(0, 1, 3, 5, 2, 4)
        self.conv = nn.Conv2d(16 * in_channels, out_channels, kernel_size=2, stride=1)
        with th.no_grad():
            self.conv.weight.copy_(weight.reshape(out_channels, 16 * in_channels, 2, 2))
            self.conv.bias.copy_(conv.bias.detach())

    def forward(self, x: th.Tensor) -> th.Tensor:
        n, c, h, w = x.shape
        # x[n, c, 4p + i, 4q + j] -> x[n, (c, i, j), p, q]
        x = x.reshape(n, c, h // 4, 4, w // 4, 4).permute(0, 1, 3, 5, 2, 4).reshape(n, 16 * c, h // 4, w // 4)
        return self.conv(x.contiguous(memory_format=th.channels_last) if x.device.type == "cpu" else x)


def build(env_id: str, fill: int, seed: int, **kwargs: Any) -> Any:
    """A PaperDQN on the paper's pipeline with ``fill`` random transitions stored and no update taken."""
    from sb3_dqn_paper.atari import make_paper_atari_env
    from sb3_dqn_paper.paper_dqn import PaperDQN

    env = make_paper_atari_env(env_id, n_envs=1, seed=seed)
    model = PaperDQN("CnnPolicy", env, buffer_size=10 * fill, learning_starts=fill, seed=seed, device="cpu", **kwargs)
    model.learn(fill)
    return model


def with_space_to_depth(model: Any) -> float:
    """Rewrite the first convolution of ``model`` in place; return the largest change of its Q-values."""
    cnn = model.q_net.features_extractor.cnn
    obs = th.as_tensor(model.replay_buffer.sample(32).observations).float() / 255.0
    with th.no_grad():
        before = model.q_net.q_net(model.q_net.features_extractor(obs))
        cnn[0] = SpaceToDepthConv(cnn[0]).to(memory_format=th.channels_last)
        after = model.q_net.q_net(model.q_net.features_extractor(obs))
    model.policy.optimizer = type(model.policy.optimizer)(model.policy.parameters(), **model.policy.optimizer.defaults)
    return float((before - after).abs().max())


def main(argv: Sequence[str] | None = None) -> None:
    """
    Command-line entry point.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.benchmarks.update_variants", description=__doc__.split("\n")[1]
    )
    parser.add_argument("--env", default="BreakoutNoFrameskip-v4", help="Atari id (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=200, help="train(1) calls per variant (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default: %(default)s)")
    parser.add_argument("--fill", type=int, default=1000, help="random transitions stored first (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.calls < args.rounds or args.rounds < 1 or args.fill < 32:
        parser.error("need --rounds >= 1, --calls >= --rounds and --fill >= 32")

    import warnings

    warnings.filterwarnings("ignore", message="precision='bf16' on a CPU without")
    th.set_num_threads(1)
    base = build(args.env, args.fill, args.seed)
    variants: dict[str, tuple[Any, int]] = {"fp32": (base, 1)}
    differences = {}
    settings = [
        ("fp32, 2 threads", {}, 2, False),
        ("bf16", {"precision": "bf16"}, 1, False),
        ("fp32, fused RMSprop", {"policy_kwargs": {"optimizer_kwargs": {"fused": True}}}, 1, False),
        ("bf16, fused RMSprop", {"precision": "bf16", "policy_kwargs": {"optimizer_kwargs": {"fused": True}}}, 1, False),
        ("fp32, space-to-depth conv1", {}, 1, True),
        ("bf16, space-to-depth conv1", {"precision": "bf16"}, 1, True),
    ]
    for name, kwargs, threads, space_to_depth in settings:
        model = build(args.env, args.fill, args.seed, **kwargs)  # same seed: same buffer contents
        model.policy.load_state_dict(base.policy.state_dict())
        if space_to_depth:
            differences[name] = with_space_to_depth(model)
        variants[name] = (model, threads)

    flops = update_flops(base.q_net, base.observation_space.shape, base.batch_size)
    load_start = os.getloadavg()
    wall = dict.fromkeys(variants, 0.0)
    cpu = dict.fromkeys(variants, 0.0)
    per_round = args.calls // args.rounds
    for model, threads in variants.values():  # warm-up: oneDNN builds its kernels on first use
        th.set_num_threads(threads)
        model.train(gradient_steps=5, batch_size=32)
    for round_ in range(args.rounds):
        names = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        for name in names:
            model, threads = variants[name]
            th.set_num_threads(threads)
            start, start_cpu = time.perf_counter(), time.process_time()
            model.train(gradient_steps=per_round, batch_size=32)
            wall[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - start_cpu
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    calls = per_round * args.rounds
    th.set_num_threads(1)
    peaks = gemm_peaks()
    print("== sb3_dqn_paper.benchmarks.update_variants ==")
    print(f"torch {th.__version__}, cpu_isa {cpu_isa()}, cpu_count {os.cpu_count()}")
    print(f"load average at start {[round(x, 2) for x in load_start]}, at end {[round(x, 2) for x in os.getloadavg()]}")
    print(f"{args.env}, batch 32, one update = {flops['update'] / 1e9:.3f} GFLOP; {calls} train(1) calls per variant")
    for name, difference in differences.items():
        print(f"{name}: largest Q-value change from the rewrite {difference:.2e}")
    reference = wall["fp32"] / calls * 1000
    print(
        "GEMM peak (2048x2048 matmul, 1 thread, this process): "
        + ", ".join(f"{name} {'not native' if value is None else f'{value:.1f} GFLOP/s'}" for name, value in peaks.items())
    )
    print("share of the peak: GFLOP/s of the update against the peak of its precision, by wall time and by the")
    print("process's CPU time (the better estimate when other processes load the machine; the peak is a best of 10)")
    print(f"{'variant':28s} {'wall ms':>8s} {'CPU ms':>8s} {'GFLOP/s':>8s} {'vs fp32':>8s}  {'share (wall)':26s} share (CPU)")
    for name in variants:
        ms, cpu_ms = wall[name] / calls * 1000, cpu[name] / calls * 1000
        precision = "bf16" if name.startswith("bf16") else "fp32"
        rate = gflops(flops, ms)
        by_wall = share_of_peak(rate, peaks, precision)
        by_cpu = share_of_peak(gflops(flops, cpu_ms), peaks, precision)
        print(f"{name:28s} {ms:8.2f} {cpu_ms:8.2f} {rate:8.1f} {reference / ms:7.2f}x  {by_wall:26s} {by_cpu}")


if __name__ == "__main__":
    main()
