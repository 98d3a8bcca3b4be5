"""
The frame codecs of :class:`~sb3_dqn_paper.replay_buffer.FrameStackReplayBuffer`'s ``compression`` option: one
compress/decompress pair per codec and process, and the sizes its memory check assumes.
"""

import functools
from collections.abc import Callable
from typing import Any

from sb3_dqn_paper.errors import InvalidArgumentError

#: Frame codecs of ``compression``: the package each needs, and the compressed size the memory check assumes, as a
#: fraction of the raw frame (the worst of the seven Table 1 games played at random, 84x84 frames, rounded up:
#: Qbert, 1,330 bytes with zstd level 1 and 1,901 with lz4; see docs). Frames that compress worse take up to their
#: raw size, never more (they are then stored raw).
COMPRESSION_CODECS = {"zstd": ("zstandard", 0.2), "lz4": ("lz4", 0.28)}
#: Install hint named in the error when a codec's package is missing.
COMPRESSION_EXTRA = "pip install 'sb3-dqn-paper[compression]'"
#: Bytes CPython spends on one ``bytes`` object besides its payload: its header (``sys.getsizeof(b"")``) and about
#: 8 bytes of allocator rounding on average. The 8-byte pointer to it is counted in the frame array.
BYTES_OBJECT_OVERHEAD = 33 + 8


@functools.cache
def frame_codec(name: str) -> tuple[Callable[[Any], bytes], Callable[[bytes, int], bytes]]:
    """
    The compress and decompress functions of a frame codec (the package is imported here), one pair per process:
    the codec's contexts (a few MB for zstd) are allocated once, not per buffer.

    :param name: ``"zstd"`` (zstandard, level 1) or ``"lz4"`` (lz4 block format, fast mode)
    :return: ``compress(buffer) -> bytes`` and ``decompress(data, raw_size) -> bytes``
    :raises ValueError: for an unknown codec
    :raises ImportError: naming the extra to install when the codec's package is missing
    """
    if name not in COMPRESSION_CODECS:
        raise InvalidArgumentError(f"compression must be None or one of {sorted(COMPRESSION_CODECS)}, got {name!r}")
    package = COMPRESSION_CODECS[name][0]
    try:
        if name == "zstd":
            import zstandard

            compressor = zstandard.ZstdCompressor(level=1)  # with the content size: one-shot decompression
            decompressor = zstandard.ZstdDecompressor()
            return compressor.compress, lambda data, size: decompressor.decompress(data)
        import lz4.block

        def compress_lz4(buffer: Any) -> bytes:
            return lz4.block.compress(buffer, store_size=False)

        return compress_lz4, lambda data, size: lz4.block.decompress(data, uncompressed_size=size)
    except ImportError as error:
        raise ImportError(
            f"FrameStackReplayBuffer(compression={name!r}) needs the {package} package, which is not installed: "
            f"{COMPRESSION_EXTRA} (or pip install {package}), or use compression=None."
        ) from error
