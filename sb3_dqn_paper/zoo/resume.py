"""
Exact resume, periodic checkpoints and clean stops of rl-zoo3 runs of ``paper_dqn``.

rl-zoo3 2.9.2 treats ``-i MODEL.zip`` as a new training start from saved weights: ``ALGO.load`` with the seed and
hyperparameters of the command line, then ``model.learn(n_timesteps)`` with the counters reset (for PaperDQN:
epsilon back to 1.0, the ``learning_starts`` warm-up again). Its ``--save-freq`` adds SB3's ``CheckpointCallback``,
which saves the model alone in the middle of a step, and SIGTERM kills a run without saving anything.
:func:`sb3_dqn_paper.zoo.registration.register_experiment_manager` uses the pieces below to change that for
``--algo paper_dqn`` only:

- ``-i`` given a checkpoint of :mod:`sb3_dqn_paper.checkpoint` (or, from Python, a folder of them): the run is
  *resumed*: :func:`load_for_resume` restores everything the checkpoint holds, and :class:`ContinuingRun`
  makes rl-zoo3's ``model.learn(n_timesteps)`` continue the counters, so ``-n`` is the run's total. A plain model
  file keeps rl-zoo3's behaviour;
- ``--save-freq N``: :func:`save_freq_callback` writes checkpoints (model files as before, same names and folder,
  plus the random and env states, and the replay buffer with ``--save-replay-buffer``) and handles SIGINT/SIGTERM;
- :class:`EvalWithOwnRandomState`: rl-zoo3 evaluates Atari agents with epsilon-greedy actions, drawn from the same
  global NumPy generator and action space as training, so without it the evaluations change the training run and
  a resumed run (whose evaluations fall at other steps) cannot be the same run.
"""

import os
import pathlib
import warnings
from typing import Any

import torch as th
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.utils import ConstantSchedule
from stable_baselines3.common.vec_env import VecEnv

from sb3_dqn_paper.checkpoint import (
    PaperCheckpointCallback,
    get_rng_state,
    latest_checkpoint,
    load_checkpoint,
    read_checkpoint_meta,
    set_rng_state,
)
from sb3_dqn_paper.errors import CheckpointError
from sb3_dqn_paper.paper_dqn import PaperDQN

#: File name prefix of the checkpoints that ``--save-freq`` writes: rl-zoo3's, so ``enjoy --load-checkpoint N``
#: and ``--load-last-checkpoint`` find them.
ZOO_CHECKPOINT_PREFIX = "rl_model"
#: Prefixes looked for when ``trained_agent`` is a folder: ``--save-freq``'s and ``PaperCheckpointCallback``'s default.
CHECKPOINT_PREFIXES = (ZOO_CHECKPOINT_PREFIX, "paper_dqn")


def newest_checkpoint_in(folder: str | os.PathLike) -> pathlib.Path:
    """
    The newest usable checkpoint in a folder, over both file name prefixes (``rl_model_`` and ``paper_dqn_``).

    :param folder: A run folder (``--save-freq``) or a ``PaperCheckpointCallback`` folder
    :return: Its path (the highest step count; files that fail :func:`~sb3_dqn_paper.checkpoint.verify_checkpoint` are
        skipped with a warning)
    :raises CheckpointError: if the folder holds no usable checkpoint
    """
    # Every entry's CRC is checked: a damaged newest file is skipped (with a warning naming it), not resumed from
    found = [path for prefix in CHECKPOINT_PREFIXES if (path := latest_checkpoint(folder, prefix, verify=True)) is not None]
    if not found:
        names = " or ".join(f"{prefix}_<steps>_steps.zip" for prefix in CHECKPOINT_PREFIXES)
        raise CheckpointError(f"-i/--trained-agent {folder} is a folder without a usable checkpoint named {names}")
    return max(found, key=lambda path: read_checkpoint_meta(path)["num_timesteps"])


#: Command-line spellings of rl-zoo3's ``--trained-agent`` option.
TRAINED_AGENT_OPTIONS = ("-i", "--trained-agent")


def empty_trained_agent_given(argv: list[str]) -> bool:
    """
    Whether a command line passes ``-i``/``--trained-agent`` an empty value, e.g. ``-i "$(... --latest FOLDER)"``
    when ``--latest`` found no checkpoint. rl-zoo3 treats ``-i ""`` as no ``-i`` at all and starts a new run from step 0.

    :param argv: The command line (``sys.argv``)
    :return: True if one of the option's values is empty (or blank)
    """
    for index, argument in enumerate(argv):
        if argument in TRAINED_AGENT_OPTIONS and index + 1 < len(argv) and not argv[index + 1].strip():
            return True
        if argument.startswith("--trained-agent=") and not argument.partition("=")[2].strip():
            return True
    return False


def refuse_empty_trained_agent(argv: list[str]) -> None:
    """
    Stop a ``paper_dqn`` run whose command line gave ``-i`` an empty path, before anything is built.

    :param argv: The command line (``sys.argv``)
    :raises CheckpointError: if :func:`empty_trained_agent_given`
    """
    if empty_trained_agent_given(argv):
        raise CheckpointError(
            "-i/--trained-agent was given an empty path, so rl-zoo3 would start a new run from step 0 instead of "
            'resuming. This happens when -i "$(python -m sb3_dqn_paper.tools.checkpoint --latest FOLDER)" finds no usable '
            "checkpoint in FOLDER (check the folder name; --latest names what it skipped). To start a new run on "
            "purpose, leave -i out."
        )


def load_for_resume(
    path: str | os.PathLike,
    env: VecEnv,
    n_timesteps: int,
    device: th.device | str = "auto",
    tensorboard_log: str | None = None,
    verbose: int = 1,
) -> PaperDQN:
    """
    Load a checkpoint to continue its run up to ``n_timesteps`` agent steps in all.

    Everything comes from the checkpoint: weights, optimizer state, counters, replay buffer, env state and random
    states; no seed and no hyperparameter of the command line is applied (either would make it another run).

    :param path: Checkpoint file
    :param env: The training env rl-zoo3 built (same hyperparameter entry, hence same wrappers and number of envs)
    :param n_timesteps: The run's total agent steps (rl-zoo3's ``-n`` or the entry's ``n_timesteps``)
    :param device: Device for the model
    :param tensorboard_log: rl-zoo3's TensorBoard folder for this run
    :param verbose: rl-zoo3's verbosity
    :return: The model, to be trained through :class:`ContinuingRun`
    :raises CheckpointError: if the checkpoint is already at ``n_timesteps`` or beyond (before anything is loaded),
        or cannot be loaded into ``env``
    """
    meta = read_checkpoint_meta(path)
    done = int(meta["num_timesteps"])
    if n_timesteps <= done:
        raise CheckpointError(
            f"{path} is at {done} agent steps and -n / n_timesteps is {n_timesteps}: when resuming a checkpoint, "
            f"-n is the run's total, not the steps to add, so nothing is left to train. Pass -n larger than {done}."
        )
    model = load_checkpoint(path, env=env, device=device, tensorboard_log=tensorboard_log, verbose=verbose)
    print(
        f"Resuming {path}: {done} of {n_timesteps} agent steps done, {n_timesteps - done} to go "
        f"(exploration rate {model.exploration_rate:.4g}, {model.replay_buffer.size() * model.n_envs} transitions "
        "in the replay buffer); seed and hyperparameters come from the checkpoint"
    )
    return model


def warn_ignored_hyperparams(
    custom_hyperparams: dict[str, Any] | None, model_hyperparams: dict[str, Any], model: PaperDQN
) -> None:
    """
    Warn about ``--hyperparams`` overrides that a resume does not apply (those the checkpoint already has are fine).

    :param custom_hyperparams: rl-zoo3's ``--hyperparams`` (``ExperimentManager.custom_hyperparams``)
    :param model_hyperparams: The hyperparameters rl-zoo3 would pass to the model; keys of ``custom_hyperparams``
        that are not among them (``n_timesteps``, ``env_wrapper``, ``frame_stack``, ``callback``, ...) still apply
    :param model: The resumed model, whose values are compared
    """
    missing = object()
    ignored = sorted(
        key
        for key in custom_hyperparams or {}
        if key in model_hyperparams and not _same_value(getattr(model, key, missing), model_hyperparams[key], key)
    )
    if ignored:
        warnings.warn(
            f"--hyperparams {', '.join(ignored)} not applied: an exact resume keeps the checkpoint's values. To train "
            "on from the weights with other hyperparameters, give -i a plain model file instead (PaperDQN.load(checkpoint)"
            ".save('model.zip') converts one).",
            stacklevel=2,
        )


def _same_value(saved: Any, given: Any, key: str = "") -> bool:
    """
    Whether the value a checkpoint has is the one ``--hyperparams`` gives.

    :param saved: The resumed model's value
    :param given: The value rl-zoo3 would pass
    :param key: The hyperparameter's name
    :return: True when they are the same setting
    """
    if key == "replay_buffer_kwargs" and isinstance(saved, dict) and isinstance(given, dict) and "frame_stack" not in given:
        # PaperDQN adds the frame_stack it detected to its replay_buffer_kwargs: not a difference from the given ones
        saved = {name: value for name, value in saved.items() if name != "frame_stack"}
    if isinstance(saved, ConstantSchedule) and not callable(given):
        saved = saved.val  # SB3 stores a constant learning rate given as a number as a ConstantSchedule
    try:
        return bool(saved == given)
    except Exception:  # e.g. arrays, whose comparison has no single truth value
        return False


class ContinuingRun:
    """
    Stands in for a resumed model in rl-zoo3's ``ExperimentManager.learn``: ``learn(total)`` continues up to ``total``.

    rl-zoo3 calls ``model.learn(n_timesteps, **kwargs)`` and handles Ctrl-C, the progress bar and closing the env
    around it. Given this object instead of the model, that call becomes
    ``model.learn(n_timesteps - model.num_timesteps, reset_num_timesteps=False, **kwargs)``, so the counters, the
    exploration schedule and ``learning_starts`` continue; every other attribute is the model's. The model itself
    is not changed (a patched method on it would be saved with it by the checkpoints written during ``learn()``).

    :param model: A model from :func:`load_for_resume`
    """

    def __init__(self, model: PaperDQN) -> None:
        self.model = model

    def learn(self, total_timesteps: int, **learn_kwargs: Any) -> PaperDQN:
        """
        Continue the run up to ``total_timesteps`` agent steps in all.

        :param total_timesteps: The run's total (rl-zoo3's ``n_timesteps``)
        :param learn_kwargs: Further ``learn()`` arguments (``callback``, ``log_interval``, ...)
        :return: The model
        """
        return self.model.learn(total_timesteps - self.model.num_timesteps, reset_num_timesteps=False, **learn_kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def save_freq_callback(
    save_freq: int, save_path: str, save_replay_buffer: bool, handle_signals: bool = True
) -> PaperCheckpointCallback:
    """
    What ``--save-freq`` adds for ``paper_dqn``, in place of SB3's ``CheckpointCallback``.

    Same files as rl-zoo3's (``SAVE_PATH/rl_model_<steps>_steps.zip``, every one kept, each a model file that
    ``enjoy --load-checkpoint`` loads), but each is a full checkpoint, written at the start of a rollout, with the
    replay buffer when ``--save-replay-buffer`` is given; one more is written when ``learn()`` ends, and SIGINT /
    SIGTERM write one and stop the run cleanly, after which rl-zoo3 saves the final model as usual.

    :param save_freq: ``--save-freq``: agent steps over all envs (rl-zoo3 divides it by ``n_envs`` for SB3's callback,
        which counts calls; this one counts steps)
    :param save_path: rl-zoo3's run folder
    :param save_replay_buffer: ``--save-replay-buffer``: include the replay buffer (needed for an exact resume)
    :param handle_signals: Handle SIGINT/SIGTERM (off when another ``PaperCheckpointCallback`` already does)
    :return: The callback
    """
    return PaperCheckpointCallback(
        save_freq=save_freq,
        save_path=save_path,
        keep_last=None,
        name_prefix=ZOO_CHECKPOINT_PREFIX,
        save_replay_buffer=save_replay_buffer,
        handle_signals=handle_signals,
        verbose=1,
    )


class EvalWithOwnRandomState(BaseCallback):
    """
    Run an ``EvalCallback`` so that its evaluations leave the training run's random states as they were.

    An evaluation with ``deterministic=False`` (rl-zoo3's choice for Atari) draws epsilon-greedy actions from
    NumPy's global generator and the model's action space, the same generators training draws from. The states
    of :func:`~sb3_dqn_paper.checkpoint.get_rng_state` are saved before each step on which the wrapped callback
    evaluates and put back after it, so training is the same whether, and at which steps, evaluations happen
    (and a resumed run, whose ``EvalCallback`` counts its calls from the resume, is the same run). Other steps
    pass straight through: saving the states at every step would cost about as much as 5% of a CartPole step.

    :param eval_callback: The callback to run (its events are forwarded unchanged)
    """

    def __init__(self, eval_callback: EvalCallback) -> None:
        super().__init__(eval_callback.verbose)
        self.eval_callback = eval_callback

    def _init_callback(self) -> None:
        self.eval_callback.init_callback(self.model)

    def _on_training_start(self) -> None:
        self.eval_callback.on_training_start(self.locals, self.globals)

    def _on_rollout_start(self) -> None:
        self.eval_callback.on_rollout_start()

    def _on_step(self) -> bool:
        callback = self.eval_callback
        evaluates = callback.eval_freq > 0 and (callback.n_calls + 1) % callback.eval_freq == 0
        if not evaluates:
            return callback.on_step()
        state = get_rng_state(self.model)  # type: ignore[arg-type]
        try:
            return callback.on_step()
        finally:
            set_rng_state(self.model, state)  # type: ignore[arg-type]

    def _on_rollout_end(self) -> None:
        self.eval_callback.on_rollout_end()

    def _on_training_end(self) -> None:
        self.eval_callback.on_training_end()

    def update_child_locals(self, locals_: dict[str, Any]) -> None:
        """
        Pass the updated ``learn()`` locals on to the wrapped callback.

        :param locals_: The locals of ``collect_rollouts``
        """
        self.eval_callback.update_locals(locals_)
