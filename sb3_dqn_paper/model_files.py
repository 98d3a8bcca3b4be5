"""
Saving and loading of :class:`~sb3_dqn_paper.paper_dqn.PaperDQN`'s files: SB3's formats, written atomically and
checked on load.

:class:`ModelFilesMixin` overrides ``BaseAlgorithm``'s ``save``/``load``/``save_replay_buffer``/``load_replay_buffer``:
a file name is written through :func:`~sb3_dqn_paper.atomic_io.atomic_write` (a crash or a full disk midway leaves the
previous file intact), and a file is checked (:mod:`sb3_dqn_paper.file_checks`) before it is loaded, so a damaged file
or one saved by another algorithm is refused with :class:`~sb3_dqn_paper.errors.InvalidModelFileError` /
:class:`~sb3_dqn_paper.errors.InvalidReplayBufferError` naming it.
"""

import os
import pathlib
import pickle
from typing import Any, TypeVar

import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.type_aliases import GymEnv

from sb3_dqn_paper.arguments import check_learning_rate
from sb3_dqn_paper.atomic_io import atomic_write, with_default_suffix
from sb3_dqn_paper.errors import InvalidModelFileError, InvalidReplayBufferError
from sb3_dqn_paper.file_checks import check_model_file, check_replay_buffer, is_deserialisation_error, load_failure_message

SelfModel = TypeVar("SelfModel", bound="BaseAlgorithm")


class ModelFilesMixin:
    """
    Atomic saves and checked loads for an SB3 off-policy algorithm (put it before the algorithm's base class).
    """

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfModel],
        path: Any,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfModel:
        """
        Load a model saved with :meth:`save`, after checking that the file is a PaperDQN save.

        Parameters as in SB3's ``BaseAlgorithm.load``.

        :raises InvalidModelFileError: if the file is not a zip, has no SB3 data, is damaged (only errors of reading the
            file are turned into this one), or was saved by another algorithm
        :raises ValueError: SB3's, for an ``env`` whose spaces differ from the saved ones
        :raises InvalidArgumentError: for a ``learning_rate`` in ``kwargs`` (the value training continues with) that
            is zero, negative or not finite. ``custom_objects`` are not checked: rl-zoo3's ``enjoy`` loads with
            ``custom_objects={"learning_rate": 0.0, ...}`` to predict only
        """
        if "learning_rate" in kwargs:
            check_learning_rate(kwargs["learning_rate"])
        check_model_file(path)
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)  # type: ignore[misc]
        except Exception as error:
            if not is_deserialisation_error(error):
                raise  # SB3's own checks, e.g. the ValueError of an env whose spaces do not match the saved ones
            raise InvalidModelFileError(load_failure_message(path, "a PaperDQN model", error)) from error

    def save(
        self,
        path: str | pathlib.Path | Any,
        exclude: list[str] | None = None,
        include: list[str] | None = None,
    ) -> None:
        """
        SB3's ``save``, written atomically when ``path`` is a file name: a crash or a full disk midway leaves the
        previous file at ``path`` intact.

        :param path: Path of the file (``.zip`` is added when it has no suffix), or an open binary file
        :param exclude: Names of parameters that should be excluded in addition to the default ones
        :param include: Names of parameters that might be excluded but should be included anyway
        :raises SaveError: if the file cannot be written
        """
        if not isinstance(path, (str, os.PathLike)):
            super().save(path, exclude, include)  # type: ignore[misc]
            return
        with atomic_write(with_default_suffix(path, "zip")) as file:
            super().save(file, exclude, include)  # type: ignore[misc]

    def save_replay_buffer(self, path: str | pathlib.Path | Any) -> None:
        """
        SB3's ``save_replay_buffer`` (a pickle of the buffer), written atomically when ``path`` is a file name.

        :param path: Path of the file (``.pkl`` is added when it has no suffix), or an open binary file
        :raises SaveError: if the file cannot be written
        """
        if not isinstance(path, (str, os.PathLike)):
            super().save_replay_buffer(path)  # type: ignore[misc]
            return
        assert self.replay_buffer is not None  # type: ignore[attr-defined], "The replay buffer is not defined"
        with atomic_write(with_default_suffix(path, "pkl")) as file:
            pickle.dump(self.replay_buffer, file, protocol=pickle.HIGHEST_PROTOCOL)

    def load_replay_buffer(self, path: str | pathlib.Path | Any, truncate_last_traj: bool = True) -> None:
        """
        SB3's ``load_replay_buffer``, refusing a file that is damaged or holds a buffer that does not fit this model.

        :param path: Path of the pickled replay buffer, or an open binary file
        :param truncate_last_traj: As in SB3 (``HerReplayBuffer`` only)
        :raises InvalidReplayBufferError: naming the problem; the model keeps its current buffer
        """
        previous = self.replay_buffer
        try:
            super().load_replay_buffer(path, truncate_last_traj)  # type: ignore[misc]
        except Exception as error:  # unpickling garbage fails in many ways
            self.replay_buffer = previous
            raise InvalidReplayBufferError(load_failure_message(path, "a replay buffer", error)) from error
        try:
            check_replay_buffer(self, self.replay_buffer, str(path))
        except InvalidReplayBufferError:
            self.replay_buffer = previous
            raise
