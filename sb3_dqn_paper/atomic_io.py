"""
Atomic file writes: a file being written never replaces the previous version until it is complete on disk.

SB3's ``save``/``save_replay_buffer`` open the destination and write into it, so a crash, a kill or a full
disk midway leaves a truncated file where the previous good one was. :func:`atomic_write` writes to a temporary
file in the same folder, flushes and ``fsync``\\ s it, then ``os.replace``\\ s it onto the destination (atomic on
POSIX and Windows within one file system) and ``fsync``\\ s the folder so the rename itself survives a power cut.
On any error the temporary file is removed and the previous file is left exactly as it was.
"""

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from sb3_dqn_paper.errors import SaveError

#: Marker in the names of temporary files, so that a leftover one (after a power cut) is recognisable.
TEMP_MARKER = ".partial-"

# mkstemp creates files readable by their owner only; the final file gets the usual permissions instead
_UMASK = os.umask(0)
os.umask(_UMASK)


def with_default_suffix(path: str | os.PathLike, suffix: str) -> pathlib.Path:
    """
    The path SB3 would write to: ``path`` with ``.suffix`` appended when it has no suffix (as ``open_path`` does).

    :param path: Destination given by the user
    :param suffix: Suffix without the dot, e.g. ``"zip"``
    :return: The destination path
    """
    path = pathlib.Path(path)
    return path if path.suffix else pathlib.Path(f"{path}.{suffix}")


def _fsync_folder(folder: pathlib.Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g. on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support fsync on folders; the rename is still atomic
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """
    Open a temporary file next to ``path`` for binary writing; on success it atomically becomes ``path``.

    Usage: ``with atomic_write("model.zip") as file: file.write(...)``. The parent folder is created if needed.

    :param path: Final destination
    :return: A context manager giving the open temporary file
    :raises SaveError: if writing, syncing or renaming fails with an ``OSError`` (e.g. the disk is full); the
        previous file at ``path``, if any, is untouched and no temporary file is left behind
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise SaveError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARKER}")
    except OSError as error:
        raise SaveError(error.errno, f"cannot create a temporary file next to {path}: {error}") from error
    temp_path = pathlib.Path(temp_name)
    try:
        os.chmod(temp_path, 0o666 & ~_UMASK)
        with open(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_path, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temp_path.unlink()
        if isinstance(error, OSError) and not isinstance(error, SaveError):
            raise SaveError(
                error.errno,
                f"could not write {path}: {error.strerror or error}. The previous file at that path (if any) is untouched",
            ) from error
        raise
    _fsync_folder(path.parent)
