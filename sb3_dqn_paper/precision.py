"""
Numeric precision of PaperDQN's update: ``"fp32"`` (the default) or ``"bf16"`` mixed precision.

With ``"bf16"`` the forward passes of the update (the TD target's no-grad forward and the forward with gradient)
run under :func:`torch.autocast` with ``bfloat16``: convolutions and matrix products take bf16 inputs, their
gradients flow back through the same casts, and everything else stays fp32: the master weights, the gradients
the optimizer sees, the optimizer's state, the Q-values taken from the network (cast back to fp32 before any
arithmetic), the TD target and the loss. Acting and evaluation forwards run in fp32.

Whether bf16 is worth it depends on the hardware: GPUs from NVIDIA Ampere on, and CPUs with AVX512-BF16 or AMX
tiles, run bf16 matrix work natively; on other CPUs oneDNN emulates it and it is slower than fp32 (measured in
``docs/benchmarks.md``). :func:`check_precision` refuses devices that cannot run it at all and warns where it runs
emulated.
"""

import contextlib
import functools
import platform
import warnings

import torch as th

from sb3_dqn_paper.errors import UnsupportedPrecisionError

#: The precisions ``PaperDQN(precision=...)`` accepts.
PRECISIONS = ("fp32", "bf16")

#: CPU feature flags (``/proc/cpuinfo``) that matter for the update's arithmetic, in the order reported.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """
    The CPU's feature flags as the kernel reports them (Linux ``/proc/cpuinfo``); empty where unreadable.

    :return: Flag names, e.g. ``{"avx2", "fma", ...}``
    """
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_model() -> str:
    """:return: The CPU's model name as the kernel reports it (``platform.processor()`` where there is no ``/proc``)"""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def cpu_isa() -> dict[str, object]:
    """
    What the CPU offers the update: the relevant feature flags and the SIMD level PyTorch dispatches to.

    :return: ``{"flags": [...present flags of ISA_FLAGS...], "torch_cpu_capability": "AVX2" | "AVX512" | ...,
        "native_bf16": bool}``
    """
    flags = cpu_flags()
    return {
        "flags": [flag for flag in ISA_FLAGS if flag in flags],
        "torch_cpu_capability": th.backends.cpu.get_cpu_capability(),
        "native_bf16": cpu_has_native_bf16(),
    }


def cpu_has_native_bf16() -> bool:
    """
    Whether this CPU runs bf16 matrix work in hardware (AVX512-BF16 or AMX-BF16), as seen by the kernel.

    :return: True if one of the two is present
    """
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_precision_name(precision: str) -> None:
    """
    Refuse a precision that is not one of :data:`PRECISIONS`, before any device is known.

    :param precision: The value given
    :raises UnsupportedPrecisionError: naming the choices
    """
    if precision not in PRECISIONS:
        raise UnsupportedPrecisionError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def check_precision(precision: str, device: th.device) -> None:
    """
    Refuse a precision the device cannot run, warn where it runs emulated.

    :param precision: ``"fp32"`` or ``"bf16"``
    :param device: The device the update runs on
    :raises UnsupportedPrecisionError: for an unknown precision, bf16 on a CUDA device without bf16 support, or bf16
        on a device type other than CPU and CUDA
    """
    check_precision_name(precision)
    if precision == "fp32":
        return
    if device.type == "cuda":
        if not th.cuda.is_bf16_supported(including_emulation=False):
            raise UnsupportedPrecisionError(
                f"precision='bf16' needs a GPU with bf16 arithmetic (NVIDIA Ampere or newer); "
                f"{th.cuda.get_device_name(device)} has none. Use precision='fp32'."
            )
    elif device.type == "cpu":
        if not cpu_has_native_bf16():
            warnings.warn(
                "precision='bf16' on a CPU without AVX512-BF16 or AMX (flags seen: "
                f"{cpu_isa()['flags']}): PyTorch emulates bf16 here, which is slower than fp32. "
                "Use precision='fp32' on this machine.",
                stacklevel=2,
            )
    else:
        raise UnsupportedPrecisionError(
            f"precision='bf16' is supported on CPU and CUDA devices, not on {device.type!r}. Use precision='fp32'."
        )


def autocast(precision: str, device: th.device) -> contextlib.AbstractContextManager:
    """
    The context the update's forward passes run in: bf16 autocast for ``"bf16"``, nothing for ``"fp32"``.

    :param precision: ``"fp32"`` or ``"bf16"``
    :param device: The device the forward runs on
    :return: A context manager
    """
    if precision == "bf16":
        return th.autocast(device_type=device.type, dtype=th.bfloat16)
    return contextlib.nullcontext()
