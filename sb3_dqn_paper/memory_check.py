"""
The one check, before a large allocation, that the memory is there: bytes internally, GiB in messages.

Used by :meth:`FrameStackReplayBuffer.allocate <sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer.allocate>` before
it allocates its frames and by ``load_checkpoint`` before it unpickles a replay buffer, so that a run that cannot fit
stops with a message naming both numbers instead of being killed by the kernel's out-of-memory killer midway.
"""


def available_memory_bytes() -> int:
    """
    Memory available to a new allocation without swapping: ``psutil``'s ``available``, else ``MemAvailable``.

    :return: Bytes available
    :raises RuntimeError: when neither can be read
    """
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency of this package, not of SB3 itself
        try:
            with open("/proc/meminfo") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        raise RuntimeError("Cannot read the available memory (no psutil and no MemAvailable in /proc/meminfo)") from None


def format_bytes(n_bytes: float) -> str:
    """
    A byte count for a message: the exact count, then GiB.

    :param n_bytes: Bytes
    :return: e.g. ``"7,090,000,000 bytes (6.60 GiB)"``
    """
    return f"{int(n_bytes):,} bytes ({n_bytes / 2**30:.2f} GiB)"


def check_memory_available(n_bytes: int, what: str, error: type[Exception], note: str = "", advice: str = "") -> None:
    """
    Refuse to go on when ``n_bytes`` exceed the memory available now.

    :param n_bytes: Bytes about to be allocated
    :param what: What needs them, starting the message (e.g. ``"loading the replay buffer in ckpt.zip"``)
    :param error: The exception class to raise
    :param note: Put right after the byte count (e.g. how it was estimated)
    :param advice: Appended to the message (e.g. ``" Lower buffer_size or free memory."``)
    :raises error: naming both byte counts
    """
    available = available_memory_bytes()
    if n_bytes > available:
        raise error(
            f"{what} needs {format_bytes(n_bytes)} of memory{note}, but only {format_bytes(available)} is available.{advice}"
        )
