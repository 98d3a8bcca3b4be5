"""
The callback that writes checkpoints during ``learn()`` and stops cleanly on SIGINT/SIGTERM.
"""

import os
import pathlib
import re
import signal
import sys
import threading
import warnings
from types import FrameType
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from sb3_dqn_paper.checkpoint.archive import save_checkpoint
from sb3_dqn_paper.checkpoint.loading import _checkpoint_pattern, list_checkpoints
from sb3_dqn_paper.errors import (
    InvalidArgumentError,
)


class PaperCheckpointCallback(BaseCallback):
    """
    Write a checkpoint every ``save_freq`` agent steps, keep the last ``keep_last``, and stop cleanly on a signal.

    Checkpoints are written at the start of a rollout (with the paper's ``train_freq=1``: before each env step),
    once the step count has reached the next multiple of ``save_freq``, to
    ``save_path/{name_prefix}_{num_timesteps}_steps.zip``. Older ones beyond ``keep_last`` are deleted only
    after the new one is safely on disk.

    With ``handle_signals``, SIGINT and SIGTERM received during ``learn()`` let the current update finish; at the
    next rollout start a checkpoint is written and ``learn()`` returns (after one more env step whose result is
    discarded: resume from the checkpoint, not from the model in memory). ``interrupted_by`` then names the
    signal. A second signal of the same kind acts as if the callback were not there (Ctrl-C twice aborts at once).
    Handlers can only be installed from the main thread; elsewhere a warning says that signals are not handled.
    ``on_training_end`` called from outside ``learn()`` (rl-zoo3 does so after ``learn()`` died from an exception)
    only restores the handlers: the state is then unknown, so no checkpoint is written.

    :param save_freq: Agent steps (over all envs) between checkpoints
    :param save_path: Folder of the checkpoints
    :param keep_last: How many of the newest checkpoints to keep; ``None`` keeps all
    :param name_prefix: File name prefix
    :param save_replay_buffer: Include the replay buffer (needed for an exact resume)
    :param compress_replay_buffer: Deflate the replay buffer (smaller, slower)
    :param handle_signals: Catch SIGINT/SIGTERM during ``learn()`` as described above
    :param save_on_training_end: Also write a checkpoint when ``learn()`` ends normally
    :param verbose: 0 silent, 1 one line per checkpoint
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str | os.PathLike,
        keep_last: int | None = 2,
        name_prefix: str = "paper_dqn",
        save_replay_buffer: bool = True,
        compress_replay_buffer: bool = False,
        handle_signals: bool = True,
        save_on_training_end: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if save_freq <= 0:
            raise InvalidArgumentError(f"save_freq must be a positive number of agent steps, got {save_freq}")
        if keep_last is not None and keep_last < 1:
            raise InvalidArgumentError(f"keep_last must be at least 1 (or None to keep every checkpoint), got {keep_last}")
        if not re.fullmatch(r"[\w.-]+", name_prefix):
            raise InvalidArgumentError(
                f"name_prefix must be a plain file name part (letters, digits, _ . -), got {name_prefix!r}"
            )
        self.save_freq = save_freq
        self.save_path = pathlib.Path(save_path)
        self.keep_last = keep_last
        self.name_prefix = name_prefix
        self.save_replay_buffer = save_replay_buffer
        self.compress_replay_buffer = compress_replay_buffer
        self.handle_signals = handle_signals
        self.save_on_training_end = save_on_training_end
        #: The newest checkpoint written by this callback
        self.last_checkpoint: pathlib.Path | None = None
        #: The signal that stopped ``learn()``, if one did
        self.interrupted_by: signal.Signals | None = None
        self._signal_received: signal.Signals | None = None
        self._stopping = False
        self._in_rollout = False
        self._next_save = 0
        self._previous_handlers: dict[signal.Signals, Any] = {}

    def _init_callback(self) -> None:
        self.save_path.mkdir(parents=True, exist_ok=True)

    def _on_training_start(self) -> None:
        self._stopping = False
        self._signal_received = None
        self.interrupted_by = None
        self._in_rollout = False
        self._next_save = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq
        if self.handle_signals:
            self._install_handlers()

    def _on_rollout_start(self) -> None:
        self._in_rollout = True
        if self._signal_received is not None:
            if not self._stopping:
                self.save()
                self._stopping = True
                self.interrupted_by = self._signal_received
        elif self.model.num_timesteps >= self._next_save:
            self.save()

    def _on_step(self) -> bool:
        return not self._stopping

    def _on_rollout_end(self) -> None:
        self._in_rollout = False

    def _on_training_end(self) -> None:
        self._restore_handlers()
        if self._stopping:
            return
        # Called from outside learn(): learn() died from an exception and someone cleans up after it (rl-zoo3's
        # ExperimentManager.learn calls its first callback's on_training_end in a `finally`); the state is unknown
        if not self._training_active(sys._getframe()):
            return
        # Consistent only if learn() left its loop normally (not from inside a rollout stopped by a callback)
        if self._signal_received is not None:
            self.interrupted_by = self._signal_received
        wanted = self.save_on_training_end or self._signal_received is not None
        if wanted and not self._in_rollout and self._saved_step() != self.model.num_timesteps:
            self.save()

    def _saved_step(self) -> int | None:
        if self.last_checkpoint is None:
            return None
        match = _checkpoint_pattern(self.name_prefix).match(self.last_checkpoint.name)
        return int(match.group(1)) if match else None

    def save(self) -> pathlib.Path:
        """
        Write a checkpoint now and delete the oldest beyond ``keep_last``.

        :return: The path written
        """
        path = self.save_path / f"{self.name_prefix}_{self.model.num_timesteps}_steps.zip"
        try:
            save_checkpoint(self.model, path, self.save_replay_buffer, self.compress_replay_buffer)  # type: ignore[arg-type]
        except BaseException:
            self._restore_handlers()  # learn() is about to die; on_training_end will not run
            raise
        self.last_checkpoint = path
        self._next_save = (self.model.num_timesteps // self.save_freq + 1) * self.save_freq
        if self.verbose >= 1:
            print(f"Saving checkpoint to {path}")
        if self.keep_last is not None:
            for old in list_checkpoints(self.save_path, self.name_prefix)[: -self.keep_last]:
                if old != path:
                    old.unlink(missing_ok=True)
        return path

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            warnings.warn(
                "PaperCheckpointCallback: learn() runs outside the main thread, so SIGINT/SIGTERM are not handled",
                stacklevel=2,
            )
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[signum] = signal.signal(signum, self._handle_signal)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def _training_active(self, frame: FrameType | None) -> bool:
        while frame is not None:
            if frame.f_code.co_name == "learn" and frame.f_locals.get("self") is self.model:
                return True
            frame = frame.f_back
        return False

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._signal_received is None and self._training_active(frame):
            self._signal_received = signal.Signals(signum)
            if self.verbose >= 1:
                print(f"{signal.Signals(signum).name} received: checkpointing and stopping after the current update")
            return
        # A second signal, or one after learn() died without cleaning up: behave as without this callback
        self._restore_handlers()
        signal.raise_signal(signum)
