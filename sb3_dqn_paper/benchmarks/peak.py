"""
This machine's matrix-multiply peak, the yardstick of the update's efficiency: the GFLOP/s of a large square
``torch.matmul`` in fp32 and, where the CPU runs bf16 natively (AVX512-BF16 or AMX-BF16) or on CUDA, in bf16.

Usage::

    python -m sb3_dqn_paper.benchmarks.peak [--size 2048] [--repeats 10] [--threads 1]

The speed benchmarks measure it in the same process as the update they time, so that the share of the peak they
print is read under the same load.
"""

import argparse
import time
from collections.abc import Sequence

import torch as th

from sb3_dqn_paper.precision import cpu_has_native_bf16


def matmul_gflops(dtype: th.dtype, size: int = 2048, repeats: int = 10, device: str = "cpu") -> float:
    """
    The best GFLOP/s of ``repeats`` products of two ``size x size`` matrices (``2 * size**3`` floating-point
    operations each), after one untimed product.

    :param dtype: ``th.float32`` or ``th.bfloat16``
    :param size: Side of the matrices
    :param repeats: Timed products; the fastest counts (the least disturbed by other processes)
    :param device: Torch device
    :return: GFLOP/s
    """
    generator = th.Generator(device="cpu").manual_seed(0)
    a = th.rand(size, size, generator=generator).to(device=device, dtype=dtype)
    b = th.rand(size, size, generator=generator).to(device=device, dtype=dtype)
    synchronize = th.cuda.synchronize if th.device(device).type == "cuda" else (lambda: None)
    th.matmul(a, b)
    synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        th.matmul(a, b)
        synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def gemm_peaks(size: int = 2048, repeats: int = 10, device: str = "cpu") -> dict[str, float | None]:
    """
    :param size: Side of the matrices
    :param repeats: Timed products per precision
    :param device: Torch device
    :return: ``{"fp32": GFLOP/s, "bf16": GFLOP/s or None}``; bf16 only where it is native (a CPU with AVX512-BF16 or
        AMX-BF16, or CUDA): elsewhere PyTorch emulates it and its speed is no peak of the machine
    """
    native_bf16 = th.device(device).type == "cuda" or cpu_has_native_bf16()
    return {
        "fp32": matmul_gflops(th.float32, size, repeats, device),
        "bf16": matmul_gflops(th.bfloat16, size, repeats, device) if native_bf16 else None,
    }


def share_of_peak(gflops: float, peaks: dict[str, float | None], precision: str) -> str:
    """
    :param gflops: A measured GFLOP/s
    :param peaks: :func:`gemm_peaks`
    :param precision: ``"fp32"`` or ``"bf16"``: the peak it is read against
    :return: e.g. ``"66 % of the fp32 peak"``, or ``"no native bf16 peak"``
    """
    peak = peaks.get(precision)
    if not peak:
        return f"no native {precision} peak"
    return f"{100 * gflops / peak:.0f} % of the {precision} peak"


def main(argv: Sequence[str] | None = None) -> None:
    """
    Command-line entry point.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    """
    parser = argparse.ArgumentParser(prog="python -m sb3_dqn_paper.benchmarks.peak", description=__doc__.split("\n")[1])
    parser.add_argument("--size", type=int, default=2048, help="side of the matrices (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=10, help="timed products per precision (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.size < 1 or args.repeats < 1 or args.threads < 1:
        parser.error("--size, --repeats and --threads must be at least 1")
    th.set_num_threads(args.threads)
    for name, value in gemm_peaks(args.size, args.repeats, args.device).items():
        text = "not native here" if value is None else f"{value:.1f} GFLOP/s"
        print(f"{name} matmul {args.size}x{args.size}, {args.threads} thread(s), {args.device}: {text}")


if __name__ == "__main__":
    main()
