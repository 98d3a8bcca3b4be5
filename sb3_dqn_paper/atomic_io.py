"""
Atomic file writes: a file being written never replaces the previous version until it is complete on disk.

SB3's ``save``/``save_replay_buffer`` open the destination and write into it, so a crash, a kill or a full
disk midway leaves a truncated file where the previous good one was. :func:`atomic_write` writes to a temporary
file in the same folder, flushes and ``fsync``\\ s it, then ``os.replace``\\ s it onto the destination (atomic on
POSIX and Windows within one file system) and ``fsync``\\ s the folder so the rename itself survives a power cut.
On any error the temporary file is removed and the previous file is left exactly as it was.

A process killed with SIGKILL (or a power cut) cannot remove its temporary file. While it writes, the writer holds an
exclusive ``flock`` on it, which the kernel releases when the process dies; :func:`remove_stale_temporary_files`
(called by every :func:`atomic_write` and by ``load_checkpoint``) removes the temporary files of a folder whose
lock it can take, i.e. those no living writer holds. Where ``fcntl`` is missing (Windows) they are left alone.

Folders (an exported agent) are written the same way by :func:`atomic_folder`: into a locked hidden staging folder
beside the destination, which then takes the destination's place. An existing destination is swapped with the new
folder in one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux), so there is no moment without a complete folder at the
destination; where the call or the file system lacks it, two renames are made and an interruption between them is
repaired by the next :func:`atomic_folder` on that destination (:func:`recover_folder_replace`).
"""

import contextlib
import ctypes
import errno
import os
import pathlib
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: no flock, stale temporary files are not removed
    fcntl = None  # type: ignore[assignment]

from sb3_dqn_paper.errors import OutputExistsError, SaveError

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


def _prepare_destination(destination: str | os.PathLike) -> pathlib.Path:
    """
    Check that ``destination`` can be written as a file, create its folder, and remove temporary files left there by
    interrupted saves.

    :param destination: The file to be written
    :return: It as a ``Path``
    :raises SaveError: if it is a folder or its folder cannot be created
    """
    path = pathlib.Path(destination)
    if path.is_dir():
        raise SaveError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SaveError(error.errno, f"cannot create the folder of {path}: {error}") from error
    remove_stale_temporary_files(path.parent)
    return path


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
    path = _prepare_destination(path)
    fd, temp_path = _locked_temporary_file(path)
    lock_fd = os.dup(fd)  # holds the lock until the rename is done, after the file object has closed ``fd``
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
        os.close(lock_fd)
        if isinstance(error, OSError) and not isinstance(error, SaveError):
            raise SaveError(
                error.errno,
                f"could not write {path}: {error.strerror or error}. The previous file at that path (if any) is untouched",
            ) from error
        raise
    os.close(lock_fd)
    _fsync_folder(path.parent)


def _locked_temporary_file(path: pathlib.Path) -> tuple[int, pathlib.Path]:
    """
    Create a temporary file next to ``path`` and take an exclusive ``flock`` on it for as long as it is open.

    :param path: Final destination
    :return: The open file descriptor and the temporary path
    :raises SaveError: if the file cannot be created
    """
    for _ in range(10):
        try:
            fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARKER}")
        except OSError as error:
            raise SaveError(error.errno, f"cannot create a temporary file next to {path}: {error}") from error
        temp_path = pathlib.Path(temp_name)
        if fcntl is None:
            return fd, temp_path
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # a cleaner holds it and is about to remove it: try a new name
            continue
        except OSError:
            return fd, temp_path  # no locks on this file system (ENOLCK...): write unlocked, cleaners skip it
        try:
            # A cleaner in another process may have taken the lock and removed the file between mkstemp and flock
            if os.path.samestat(os.fstat(fd), os.stat(temp_path)):
                return fd, temp_path
        except OSError:
            pass  # the file is gone: try a new name
        os.close(fd)
    raise SaveError(f"cannot create a locked temporary file next to {path}")


def is_temporary_file(path: str | os.PathLike) -> bool:
    """
    Whether ``path`` is named like a temporary file of :func:`atomic_write` (``.<name>.partial-<random>``).

    :param path: A file path
    :return: True for a temporary file's name
    """
    name = pathlib.Path(path).name
    return name.startswith(".") and TEMP_MARKER in name


def remove_stale_temporary_files(folder: str | os.PathLike) -> list[pathlib.Path]:
    """
    Remove the temporary files that interrupted writes (SIGKILL, power cut) left in ``folder``, with a warning each.

    A temporary file is stale when no process holds its ``flock``: its writer died. Files being written by a
    living process (this one or another) are left alone.

    :param folder: The folder to clean
    :return: The files removed
    """
    removed: list[pathlib.Path] = []
    if fcntl is None:
        return removed
    try:
        candidates = [entry for entry in pathlib.Path(folder).iterdir() if is_temporary_file(entry)]
    except OSError:
        return removed
    for candidate in candidates:
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue  # removed meanwhile, or not readable: not ours to judge
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a living writer holds it
        try:
            size = os.fstat(fd).st_size
            candidate.unlink()
            removed.append(candidate)
            warnings.warn(
                f"removed {candidate} ({size:,} bytes), the temporary file of a save that was interrupted", stacklevel=2
            )
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def atomic_write_files(contents: Mapping[str | os.PathLike, bytes]) -> None:
    """
    Write several files so that they all change or none does (up to the final renames, which do not fail in practice).

    Each file is first written in full to a locked temporary file next to it and ``fsync``\\ ed; only when all are
    on disk are they renamed onto their destinations. On an error (e.g. a full disk) every temporary file is
    removed and every destination is left as it was.

    :param contents: The bytes of each destination file
    :raises SaveError: naming the file that could not be written
    """
    staged: list[tuple[pathlib.Path, pathlib.Path]] = []
    locks: list[int] = []
    try:
        for destination, data in contents.items():
            path = _prepare_destination(destination)
            fd, temp_path = _locked_temporary_file(path)
            staged.append((temp_path, path))
            locks.append(os.dup(fd))  # keep the lock until every file is renamed
            try:
                os.chmod(temp_path, 0o666 & ~_UMASK)
                with open(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
            except OSError as error:
                raise SaveError(
                    error.errno,
                    f"could not write {path}: {error.strerror or error}. No file of this set was changed",
                ) from error
        for temp_path, path in staged:
            os.replace(temp_path, path)
    except BaseException:
        for temp_path, _ in staged:
            with contextlib.suppress(OSError):
                temp_path.unlink()
        raise
    finally:
        for lock_fd in locks:
            os.close(lock_fd)
    for folder in {path.parent for _, path in staged}:
        _fsync_folder(folder)


#: Marker in the name of the hidden folder that :func:`atomic_folder` writes into.
STAGING_FOLDER_MARKER = ".staging-"
#: Marker in the name under which the previous folder waits while two renames replace it (no ``RENAME_EXCHANGE``).
PREVIOUS_FOLDER_MARKER = ".previous-"
#: ``renameat2`` flag that swaps two paths atomically (Linux >= 3.15).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """
    Swap two existing paths in one atomic step (``renameat2(..., RENAME_EXCHANGE)``, Linux).

    :param first: A file or folder
    :param second: Another one, on the same file system
    :return: ``True`` when they were swapped; ``False`` where the C library or the file system cannot swap (then
        nothing was changed)
    :raises OSError: for any other failure (nothing was changed)
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"cannot swap {first} and {second}: {os.strerror(code)}")


def _lock_folder(path: pathlib.Path) -> int | None:
    """
    Take an exclusive ``flock`` on a folder, held until the returned descriptor is closed (or the process dies).

    :param path: The folder
    :return: The open descriptor; ``None`` where there are no locks (no ``fcntl``, or a file system without them)
    :raises BlockingIOError: when another process holds the lock
    """
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    except OSError:
        os.close(fd)
        return None
    return fd


def recover_folder_replace(destination: str | os.PathLike) -> None:
    """
    Repair what an interrupted :func:`atomic_folder` left beside ``destination`` (a SIGKILL, a power cut), with a
    warning each: a staging folder no living process holds is removed; a previous folder waiting between two renames
    is put back when ``destination`` is missing, else removed. Folders a living process holds are left alone, and
    nothing is done where locks are not available (Windows).

    :param destination: The folder :func:`atomic_folder` writes
    """
    destination = pathlib.Path(destination)
    if fcntl is None:
        return
    try:
        entries = list(destination.parent.iterdir())
    except OSError:
        return
    stem = f".{destination.name}"
    for entry in entries:
        rest = entry.name[len(stem) :] if entry.name.startswith(stem) else ""
        previous = rest.startswith(PREVIOUS_FOLDER_MARKER)
        if not (previous or rest.startswith(STAGING_FOLDER_MARKER)) or not entry.is_dir() or entry.is_symlink():
            continue
        try:
            lock = _lock_folder(entry)
        except OSError:
            continue  # a living process holds it, or it is gone
        try:
            if previous and not os.path.lexists(destination):
                os.rename(entry, destination)
                warnings.warn(
                    f"put {destination} back from {entry.name}, left by a replace that was interrupted", stacklevel=2
                )
            else:
                shutil.rmtree(entry)
                warnings.warn(f"removed {entry}, left by a folder write that was interrupted", stacklevel=2)
        except OSError:
            pass
        finally:
            if lock is not None:
                os.close(lock)


def _fsync_tree(folder: pathlib.Path) -> None:
    """``fsync`` every file and folder under ``folder``, so that its content is on disk before it is renamed."""
    for root, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_folder(pathlib.Path(root))


def _replace_folder(staging: pathlib.Path, destination: pathlib.Path) -> None:
    """
    Put the complete folder ``staging`` in the place of the existing folder ``destination``.

    One atomic swap where the system has it (the previous folder then lies at ``staging`` and is removed); otherwise
    two renames, the previous folder kept locked under a :data:`PREVIOUS_FOLDER_MARKER` name in between and put back
    if the second rename fails.
    """
    if exchange_paths(staging, destination):
        shutil.rmtree(staging, ignore_errors=True)
        return
    previous = destination.parent / f".{destination.name}{PREVIOUS_FOLDER_MARKER}{secrets.token_hex(4)}"
    lock = _lock_folder(destination)
    try:
        os.rename(destination, previous)
        try:
            os.rename(staging, destination)
        except BaseException:
            os.rename(previous, destination)
            raise
    finally:
        if lock is not None:
            os.close(lock)
    shutil.rmtree(previous, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(destination: str | os.PathLike, overwrite: bool = False) -> Iterator[pathlib.Path]:
    """
    Write a folder so that ``destination`` is either what it was or the complete new folder, never a partial one or
    none: ``with atomic_folder("agents/x") as staging: ...`` writes into ``staging``, which then takes its place.

    The staging folder is hidden, beside ``destination``, with the usual permissions (not ``mkdtemp``'s 0700), and
    locked while it is written; the leftovers of an interrupted write are repaired first (:func:`recover_folder_replace`).

    :param destination: The folder to write
    :param overwrite: Replace an existing ``destination`` (otherwise it is refused and left as it is)
    :return: A context manager giving the staging folder
    :raises OutputExistsError: if ``destination`` exists and ``overwrite`` is false (checked before and after)
    :raises SaveError: if the folder cannot be written or put in place (e.g. the disk is full); ``destination`` is
        then as it was and the staging folder is removed
    """
    destination = pathlib.Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SaveError(error.errno, f"cannot create the folder of {destination}: {error.strerror or error}") from error
    recover_folder_replace(destination)
    if os.path.lexists(destination) and not overwrite:
        raise OutputExistsError(f"{destination} already exists: pass --overwrite to replace it")
    try:
        staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{destination.name}{STAGING_FOLDER_MARKER}", dir=destination.parent))
    except OSError as error:
        raise SaveError(error.errno, f"cannot create a folder beside {destination}: {error.strerror or error}") from error
    lock = _lock_folder(staging)
    try:
        os.chmod(staging, 0o777 & ~_UMASK)
        yield staging
        _fsync_tree(staging)
        if os.path.lexists(destination):
            if not overwrite:
                raise OutputExistsError(f"{destination} was created while it was being written; nothing was replaced")
            _replace_folder(staging, destination)
        else:
            os.rename(staging, destination)
        _fsync_folder(destination.parent)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError) and not isinstance(error, (SaveError, OutputExistsError)):
            raise SaveError(
                error.errno, f"could not write {destination}: {error.strerror or error}. What was there is untouched"
            ) from error
        raise
    finally:
        if lock is not None:
            os.close(lock)
