"""Error types raised by sb3-dqn-paper, so callers can tell the project's own refusals from bugs."""


class PaperDQNError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidModelFileError(PaperDQNError, ValueError):
    """A file given to ``PaperDQN.load`` (or a checkpoint loader) is not a usable PaperDQN save."""


class NonFiniteLossError(PaperDQNError, FloatingPointError):
    """The TD loss became NaN or infinite; training stopped before the bad gradient reached the weights."""


class InsufficientMemoryError(PaperDQNError, MemoryError):
    """A replay buffer needs more memory than the machine (or GPU) has available; raised before it allocates."""


class UnsupportedObservationError(PaperDQNError, ValueError):
    """An observation space that a component cannot handle (e.g. not a frame stack, for the frame-stack buffer)."""
