"""
Checks of the files PaperDQN and its checkpoints read, made before anything is loaded into a model.

- :func:`check_model_file`: a zip written by ``PaperDQN.save`` (SB3's format), checked without loading weights;
- :func:`check_replay_buffer`: an unpickled replay buffer that fits a model (shape, dtype, spaces, number of envs);
- :func:`open_zip`: the one place where a zip archive is opened for reading, so that every kind of damage
  (truncation, a bad header, a damaged entry) is reported as the caller's error class naming the file.
"""

import contextlib
import json
import os
import pickle
import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from stable_baselines3.common.save_util import json_to_data

from sb3_dqn_paper.errors import InvalidModelFileError, InvalidReplayBufferError, PaperDQNError
from sb3_dqn_paper.policies import PaperDQNPolicy

#: What reading a damaged file raises inside pickle, zipfile, zlib, json and ``torch.load`` (a damaged torch archive
#: raises ``RuntimeError``; an unpickled reference to a missing class ``ImportError``/``AttributeError``), as opposed
#: to the checks SB3 makes on what it read (``ValueError`` for an env whose spaces do not match, ...).
DESERIALISATION_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    json.JSONDecodeError,
    UnicodeDecodeError,
    EOFError,
    MemoryError,
    RuntimeError,
    ImportError,
    AttributeError,
)


def is_deserialisation_error(error: BaseException) -> bool:
    """
    Whether ``error`` comes from reading a damaged file, directly or re-raised by SB3 (``load_from_zip_file`` turns
    ``zipfile.BadZipFile`` into ``ValueError``).

    :param error: An exception raised by a load
    :return: True if it or its cause is one of :data:`DESERIALISATION_ERRORS`
    """
    return isinstance(error, DESERIALISATION_ERRORS) or isinstance(error.__cause__, DESERIALISATION_ERRORS)


@contextlib.contextmanager
def open_zip(path: Any, error: type[Exception], damaged: str) -> Iterator[zipfile.ZipFile]:
    """
    Open ``path`` as a zip archive for reading; any failure while it is open is raised as ``error``.

    The project's own errors (:class:`~sb3_dqn_paper.errors.PaperDQNError`) raised inside the ``with`` block pass
    unchanged; every other exception (a truncated archive, a bad header or CRC, a damaged JSON entry) becomes
    ``error(f"{damaged}: {exception!r}")``.

    :param path: File path or an open binary file
    :param error: The exception class the caller reports damage with
    :param damaged: The start of the message, e.g. ``"model.zip is damaged and cannot be read as a PaperDQN save"``
    :return: A context manager giving the open ``zipfile.ZipFile``
    """
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except PaperDQNError:
        raise
    except Exception as exception:  # a damaged archive fails in many ways; all mean the same to the caller
        raise error(f"{damaged}: {exception!r}") from exception


def load_failure_message(path: Any, what: str, error: Exception) -> str:
    """
    The message of a failed load; a MemoryError may come from a damaged pickle that claims an absurd size.

    :param path: What was loaded
    :param what: What it was loaded as, e.g. ``"a replay buffer"``
    :param error: The exception the load raised
    :return: The message
    """
    hint = " (the file is damaged, or this machine lacks the memory to load it)" if isinstance(error, MemoryError) else ""
    return f"{path} could not be loaded as {what}: {error!r}{hint}"


def check_model_file(path: Any) -> dict[str, Any]:
    """
    Check that ``path`` is an SB3 zip written by PaperDQN, without loading its weights: the entries SB3 reads are
    there and their CRCs match (entries SB3 does not read, such as a checkpoint's replay buffer, are not read).

    :param path: File path (str or Path) or an open binary file
    :return: The saved attributes (SB3's ``data`` entry), e.g. ``observation_space`` and ``action_space``
    :raises InvalidModelFileError: naming what is wrong with the file
    """
    if isinstance(path, (str, os.PathLike)):
        path = os.fspath(path)
        if not os.path.isfile(path) and os.path.isfile(path + ".zip"):
            path = path + ".zip"  # SB3's load adds the suffix the same way
        if not os.path.isfile(path):
            raise InvalidModelFileError(f"{path}: no such model file")
    try:
        if not zipfile.is_zipfile(path):
            raise InvalidModelFileError(f"{path} is not a zip file, so not a model saved by PaperDQN.save")
        with open_zip(path, InvalidModelFileError, f"{path} is damaged and cannot be read as a PaperDQN save") as archive:
            names = archive.namelist()
            if "data" not in names:
                raise InvalidModelFileError(f"{path} is a zip file but holds no SB3 'data' entry")
            if "policy.pth" not in names:
                raise InvalidModelFileError(f"{path} is a zip file but holds no 'policy.pth' entry (the weights)")
            for name in names:
                if name.endswith(".pth"):
                    archive.read(name)  # reads to the end of the entry, where zipfile checks its CRC
            data = json_to_data(archive.read("data").decode())
    finally:
        if hasattr(path, "seek"):
            path.seek(0)
    missing = [key for key in ("policy_class", "observation_space", "action_space") if key not in data]
    if missing:
        raise InvalidModelFileError(f"{path} is damaged: its SB3 'data' entry lacks {missing}")
    policy_class = data.get("policy_class")
    if not (isinstance(policy_class, type) and issubclass(policy_class, PaperDQNPolicy)):
        name = getattr(policy_class, "__qualname__", repr(policy_class))
        raise InvalidModelFileError(f"{path} was not saved by PaperDQN (its policy class is {name}, not a PaperDQN policy)")
    return data


def check_replay_buffer(model: OffPolicyAlgorithm, buffer: Any, source: str) -> None:
    """
    Check that a loaded replay buffer fits ``model``: a ``ReplayBuffer`` with the model's observation shape and
    dtype, action space and number of envs.

    :param model: The model the buffer is for
    :param buffer: The unpickled object
    :param source: Where it came from, for the error message
    :raises InvalidReplayBufferError: naming the first mismatch
    """
    if not isinstance(buffer, ReplayBuffer):
        raise InvalidReplayBufferError(f"{source} holds a {type(buffer).__qualname__}, not a ReplayBuffer")
    try:
        expected = {
            # The space the buffer was built for (a frame-storing buffer may keep a different internal obs_shape)
            "observation shape": (get_obs_shape(model.observation_space), get_obs_shape(buffer.observation_space)),
            "observation dtype": (model.observation_space.dtype, buffer.observation_space.dtype),
            "action space": (model.action_space, buffer.action_space),
            "action dimension": (get_action_dim(model.action_space), buffer.action_dim),
            "number of envs": (model.n_envs, buffer.n_envs),
        }
        position_ok = 0 <= buffer.pos < buffer.buffer_size
    except (AttributeError, TypeError) as error:
        raise InvalidReplayBufferError(f"{source} holds a damaged {type(buffer).__qualname__}: {error}") from error
    if not position_ok:
        raise InvalidReplayBufferError(
            f"{source} holds a damaged buffer: its position {buffer.pos} is outside [0, {buffer.buffer_size})"
        )
    for what, (wanted, found) in expected.items():
        if wanted != found:
            raise InvalidReplayBufferError(
                f"{source} does not fit this model: its {what} is {found}, the model's is {wanted} "
                "(was it saved for another env or another number of envs?)"
            )
