"""Error types raised by sb3-dqn-paper, so callers can tell the project's own refusals from bugs."""


class PaperDQNError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidModelFileError(PaperDQNError, ValueError):
    """A file given to ``PaperDQN.load`` (or a checkpoint loader) is not a usable PaperDQN save."""


class NonFiniteLossError(PaperDQNError, FloatingPointError):
    """The TD loss became NaN or infinite; training stopped before the bad gradient reached the weights."""


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
