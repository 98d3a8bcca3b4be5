"""
sb3-dqn-paper: the 2013 DQN paper (Mnih et al., arXiv:1312.5602) as a Stable-Baselines3 algorithm.

The public names are imported on first use, so that ``import sb3_dqn_paper`` alone (as the rl-zoo3
registration hook does at interpreter start) does not import torch or Stable-Baselines3.
"""

from __future__ import annotations

from sb3_dqn_paper.version import __version__

# ``typing`` costs several milliseconds to import, and this module is imported at every interpreter start by the
# rl-zoo3 registration hook (``sb3_dqn_paper_zoo.pth``); type checkers treat a constant named TYPE_CHECKING as theirs.
TYPE_CHECKING = False


_EXPORTS = {
    "PaperDQN": "sb3_dqn_paper.paper_dqn",
    "CnnPolicy": "sb3_dqn_paper.policies",
    "MlpPolicy": "sb3_dqn_paper.policies",
    "MultiInputPolicy": "sb3_dqn_paper.policies",
    "PaperCNN": "sb3_dqn_paper.policies",
    "CenteredRMSprop": "sb3_dqn_paper.rmsprop",
    "FrameStackReplayBuffer": "sb3_dqn_paper.replay_buffer",
    "make_paper_atari_env": "sb3_dqn_paper.atari",
    "PaperCheckpointCallback": "sb3_dqn_paper.checkpoint",
    "load_checkpoint": "sb3_dqn_paper.checkpoint",
    "resume_learning": "sb3_dqn_paper.checkpoint",
    "save_checkpoint": "sb3_dqn_paper.checkpoint",
}

__all__ = [
    "CenteredRMSprop",
    "CnnPolicy",
    "FrameStackReplayBuffer",
    "MlpPolicy",
    "MultiInputPolicy",
    "PaperCNN",
    "PaperCheckpointCallback",
    "PaperDQN",
    "__version__",
    "load_checkpoint",
    "make_paper_atari_env",
    "resume_learning",
    "save_checkpoint",
]

if TYPE_CHECKING:
    from typing import Any

    from sb3_dqn_paper.atari import make_paper_atari_env
    from sb3_dqn_paper.checkpoint import PaperCheckpointCallback, load_checkpoint, resume_learning, save_checkpoint
    from sb3_dqn_paper.paper_dqn import PaperDQN
    from sb3_dqn_paper.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, PaperCNN
    from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer
    from sb3_dqn_paper.rmsprop import CenteredRMSprop


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sb3_dqn_paper' has no attribute {name!r}")
