"""Error types raised by sb3-dqn-paper, so callers can tell the project's own refusals from bugs."""

from typing import Any


class PaperDQNError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidModelFileError(PaperDQNError, ValueError):
    """A file given to ``PaperDQN.load`` (or a checkpoint loader) is not a usable PaperDQN save."""


class NonFiniteLossError(PaperDQNError, FloatingPointError):
    """The TD loss became NaN or infinite; training stopped before the bad gradient reached the weights."""

    @classmethod
    def for_minibatch(cls, loss_value: float, update: int, model: Any, replay_data: Any) -> "NonFiniteLossError":
        """
        The error for a minibatch, with the advice that fits its cause: non-finite rewards or observations come from
        the env, not from the learning rate.

        :param loss_value: The loss
        :param update: The number of the update that was refused
        :param model: The model (its ``num_timesteps`` is named)
        :param replay_data: The minibatch (SB3's ``ReplayBufferSamples`` or ``DictReplayBufferSamples``)
        :return: The error
        """
        import torch as th

        start = (
            f"PaperDQN: the loss became {loss_value} at update {update} (agent step {model.num_timesteps}); "
            "the weights were not updated. "
        )
        parts = [replay_data.observations, replay_data.next_observations]
        observations = [tensor for part in parts for tensor in (part.values() if isinstance(part, dict) else [part])]
        if not th.isfinite(replay_data.rewards).all():
            advice = "The minibatch holds non-finite rewards: check the env's rewards (the learning rate is not the cause)."
        elif any(tensor.is_floating_point() and not th.isfinite(tensor).all() for tensor in observations):
            advice = "The minibatch holds non-finite observations: check the env's observations."
        else:
            advice = "Lower the learning rate, enable max_grad_norm or loss='huber', or check the rewards."
        return cls(start + advice)


class CheckpointError(PaperDQNError, ValueError):
    """A training checkpoint cannot be used: damaged or truncated, not a checkpoint, or made for another env."""


class InvalidReplayBufferError(PaperDQNError, ValueError):
    """A replay buffer file is damaged, or holds a buffer that does not fit the model (spaces, number of envs)."""


class SaveError(PaperDQNError, OSError):
    """Writing a model, replay buffer or checkpoint failed (e.g. the disk is full); the previous file is untouched."""


class InsufficientMemoryError(PaperDQNError, MemoryError):
    """A replay buffer needs more memory than the machine (or GPU) has available; raised before it allocates."""


class UnsupportedObservationError(PaperDQNError, ValueError):
    """An observation space that a component cannot handle (e.g. not a frame stack, for the frame-stack buffer)."""


class UnsupportedRLZooError(PaperDQNError, RuntimeError):
    """The installed rl-zoo3 is a version sb3-dqn-paper's registration was not tested with."""


class InvalidArgumentError(PaperDQNError, ValueError):
    """An argument (hyperparameter, command-line option, file content) this package cannot use, named in the message."""


class UnknownEnvironmentError(PaperDQNError, ValueError):
    """An env id that Gymnasium does not know, or one that is not what the function needs (e.g. not an Atari game)."""


class DamagedCheckpointError(CheckpointError):
    """A checkpoint whose bytes are damaged or truncated (CRC mismatch, unreadable entry): an older one may still load."""


class OutputExistsError(PaperDQNError, FileExistsError):
    """An output file exists already and replacing it was not asked for (``--overwrite``)."""


class OutputIsAFolderError(PaperDQNError, IsADirectoryError):
    """An output path names a folder where a file is needed."""


class MissingFileError(PaperDQNError, FileNotFoundError):
    """An input file or folder given by the user does not exist."""


class RenderError(PaperDQNError, RuntimeError):
    """An env that was asked for RGB frames rendered none."""


class UnsupportedPrecisionError(InvalidArgumentError):
    """A ``precision`` that is unknown, or that the device cannot run (e.g. bf16 on a GPU without bf16 arithmetic)."""
