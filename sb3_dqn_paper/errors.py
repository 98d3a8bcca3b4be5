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


class UnsupportedPrecisionError(PaperDQNError, ValueError):
    """A ``precision`` that is unknown, or that the device cannot run (e.g. bf16 on a GPU without bf16 arithmetic)."""
