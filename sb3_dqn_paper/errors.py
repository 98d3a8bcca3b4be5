"""Error types raised by sb3-dqn-paper, so callers can tell the project's own refusals from bugs."""


class PaperDQNError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidModelFileError(PaperDQNError, ValueError):
    """A file given to ``PaperDQN.load`` (or a checkpoint loader) is not a usable PaperDQN save."""


class NonFiniteLossError(PaperDQNError, FloatingPointError):
    """The TD loss became NaN or infinite; training stopped before the bad gradient reached the weights."""


class UnsupportedRLZooError(PaperDQNError, RuntimeError):
    """The installed rl-zoo3 is a version sb3-dqn-paper's registration was not tested with."""
