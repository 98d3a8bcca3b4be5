"""
Training checkpoints of :class:`~sb3_dqn_paper.PaperDQN` from which a stopped run continues exactly.

SB3 saves the model (weights, optimizer state, counters) and, separately, the replay buffer; it does not save
the random number generators nor the environment, so a run resumed from an SB3 save is a different run. A
checkpoint here is **one zip file** that holds:

- everything ``PaperDQN.save`` writes, at the top level, so a checkpoint is also a model file that
  ``PaperDQN.load`` and rl-zoo3's ``-i`` accept: the weights, the optimizer state (the centred RMSProp
  accumulators), ``num_timesteps``, ``_n_updates``, ``_episode_num``, the exploration rate, the target-update
  counter, ``_last_obs``, ``_last_episode_starts``, ``_last_original_obs``, the episode-info buffer and the
  learning-rate progress;
- ``checkpoint/replay_buffer.pkl``: the replay buffer, pickled as SB3's ``save_replay_buffer`` does (so any
  :class:`~stable_baselines3.common.buffers.ReplayBuffer` subclass works, with whatever sampling RNG it holds);
- ``checkpoint/rng.pkl``: the states of Python's ``random``, NumPy's global generator (epsilon-greedy draws
  and SB3's replay sampling use it), torch's CPU (and, if initialised, CUDA) generators and the action
  space's generator (random actions);
- ``checkpoint/env_state.pkl``: the state of the training env, read from every layer of a ``DummyVecEnv``: the
  ``VecEnv`` wrappers (``VecFrameStack``'s frame stacks, ``VecNormalize`` statistics), the ``DummyVecEnv``
  buffers and pending seeds, and for each sub-env every gymnasium wrapper and the env itself (its physics
  state, step counters, ``np_random``); an Atari emulator is saved with ``cloneState(include_rng=True)``.
  Attributes that cannot be pickled (open Monitor CSV files, renderers) are left to the new env. The envs of a
  ``SubprocVecEnv`` live in other processes and are not saved: there the resumed run starts new episodes;
- ``checkpoint/meta.json``: the format version and a human-readable summary.

The file is written atomically (:func:`~sb3_dqn_paper.atomic_io.atomic_write`), so a crash or a full disk
during a save leaves the previous checkpoint as it was. Loading a checkpoint restores the process's global
random states: that is what makes the resumed run the run that would have happened. Checkpoints contain
pickles: load only files you trust, as with SB3's own files.

:class:`PaperCheckpointCallback` writes one every ``save_freq`` agent steps, keeps the last ``keep_last`` and,
on SIGINT/SIGTERM, writes one and stops ``learn()`` cleanly. Checkpoints are written at the start of a rollout,
where the previous update has finished and nothing of the next step has happened yet (SB3's
``CheckpointCallback`` saves inside ``on_step``, after ``env.step`` and before the transition is stored, which
cannot be resumed exactly).

Exactness holds on CPU with the same versions of the libraries and the same number of torch threads. On GPU,
cuDNN/cuBLAS kernels may be non-deterministic, so a resumed GPU run is statistically, not bitwise, the same run.

The package holds one job per module: :mod:`~sb3_dqn_paper.checkpoint.env_state` (the env-state walk),
:mod:`~sb3_dqn_paper.checkpoint.random_state` (random states), :mod:`~sb3_dqn_paper.checkpoint.archive` (the zip
format, writing, the summary and CRC verification), :mod:`~sb3_dqn_paper.checkpoint.loading` (loading and resuming),
:mod:`~sb3_dqn_paper.checkpoint.callback` (the callback and its signal handling); every public name imports from
``sb3_dqn_paper.checkpoint``. The command that lists and verifies checkpoints is a tool:
:mod:`sb3_dqn_paper.tools.checkpoint`.
"""

from sb3_dqn_paper.checkpoint.archive import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    ENV_ENTRY,
    META_ENTRY,
    REPLAY_BUFFER_ENTRY,
    RNG_ENTRY,
    is_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
    verify_checkpoint,
)
from sb3_dqn_paper.checkpoint.callback import PaperCheckpointCallback
from sb3_dqn_paper.checkpoint.env_state import env_layers, get_env_state, set_env_state
from sb3_dqn_paper.checkpoint.loading import latest_checkpoint, list_checkpoints, load_checkpoint, resume_learning
from sb3_dqn_paper.checkpoint.random_state import get_rng_state, set_rng_state

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "ENV_ENTRY",
    "META_ENTRY",
    "REPLAY_BUFFER_ENTRY",
    "RNG_ENTRY",
    "PaperCheckpointCallback",
    "env_layers",
    "get_env_state",
    "get_rng_state",
    "is_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "read_checkpoint_meta",
    "resume_learning",
    "save_checkpoint",
    "set_env_state",
    "set_rng_state",
    "verify_checkpoint",
]
