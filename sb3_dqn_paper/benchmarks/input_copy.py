"""
Time the two ways of turning a minibatch of uint8 frames into the channels-last float input of the network
(``QNetworkInput(input_copy=...)``), alone and inside PaperDQN's update, in alternating rounds in one process.

Usage::

    OMP_NUM_THREADS=1 python -m sb3_dqn_paper.benchmarks.input_copy --rounds 10

- ``transpose``: the frames rearranged to channels-last while one byte each, then one same-layout conversion;
- ``per_channel``: one converting copy per stacked frame, into its strided place in the buffer.

Both give the same values (``tests/test_fast_update.py``); PaperDQN picks the faster on its first minibatch
(``input_copy="auto"``). The report gives CPU ms per copy of a 32 x 4 x 84 x 84 minibatch and per ``train(1)`` call
(process CPU time, the better estimate when other processes load the machine), and the way ``auto`` chose.
"""

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np
import torch as th

from sb3_dqn_paper.fast_update import INPUT_COPY_FUNCTIONS
from sb3_dqn_paper.precision import cpu_isa


def main(argv: Sequence[str] | None = None) -> None:
    """
    Command-line entry point.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    """
    parser = argparse.ArgumentParser(prog="python -m sb3_dqn_paper.benchmarks.input_copy", description=__doc__.split("\n")[1])
    parser.add_argument("--env", default="BreakoutNoFrameskip-v4", help="Atari id (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds (default: %(default)s)")
    parser.add_argument("--copies", type=int, default=50, help="copies per way and round (default: %(default)s)")
    parser.add_argument("--updates", type=int, default=25, help="train(1) calls per way and round (default: %(default)s)")
    parser.add_argument("--fill", type=int, default=1000, help="random transitions stored first (default: %(default)s)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.copies, args.fill - 31) < 1 or args.updates < 0:
        parser.error("need --rounds >= 1, --copies >= 1, --updates >= 0 and --fill >= 32")
    th.set_num_threads(1)
    load_start = os.getloadavg()
    frames = th.from_numpy(np.random.default_rng(0).integers(0, 256, size=(32, 4, 84, 84), dtype=np.uint8))
    buffer = th.empty(frames.shape, dtype=th.float32, memory_format=th.channels_last)
    copy_ms: dict[str, list[float]] = {name: [] for name in INPUT_COPY_FUNCTIONS}
    update_ms: dict[str, list[float]] = {name: [] for name in INPUT_COPY_FUNCTIONS}
    model = None
    if args.updates:
        from sb3_dqn_paper.benchmarks.update_variants import build

        model = build(args.env, args.fill, 0)
        q_input = model.fast_update.q_input
        model.train(gradient_steps=5, batch_size=32)  # warm-up: oneDNN builds its kernels on first use
        auto_choice = q_input.input_copies.get((32, *model.observation_space.shape))
    for round_ in range(args.rounds):
        names = list(INPUT_COPY_FUNCTIONS) if round_ % 2 == 0 else list(INPUT_COPY_FUNCTIONS)[::-1]
        for name in names:
            copy = INPUT_COPY_FUNCTIONS[name]
            start = time.process_time()
            for _ in range(args.copies):
                copy(buffer, frames)
            copy_ms[name].append((time.process_time() - start) / args.copies * 1000)
            if model is not None:
                q_input.input_copy, q_input.input_copies = name, {}
                start = time.process_time()
                model.train(gradient_steps=args.updates, batch_size=32)
                update_ms[name].append((time.process_time() - start) / args.updates * 1000)
    print("== sb3_dqn_paper.benchmarks.input_copy ==")
    print(f"torch {th.__version__}, cpu_isa {cpu_isa()}, cpu_count {os.cpu_count()}")
    print(f"load average at start {[round(x, 2) for x in load_start]}, at end {[round(x, 2) for x in os.getloadavg()]}")
    print(f"{args.rounds} alternating rounds; medians of the rounds, process CPU ms")
    print(f"{'way':12s} {'copy (32x4x84x84)':>18s} {'train(1) call':>14s}")
    for name in INPUT_COPY_FUNCTIONS:
        update = f"{np.median(update_ms[name]):14.2f}" if update_ms[name] else f"{'-':>14s}"
        print(f"{name:12s} {np.median(copy_ms[name]):18.3f} {update}")
    if model is not None:
        print(f"auto chose {auto_choice!r} on {args.env}'s first minibatch of this process")


if __name__ == "__main__":
    main()
