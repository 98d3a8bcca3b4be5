"""
What sb3-dqn-paper adds to rl-zoo3, one function per rl-zoo3 module.

rl-zoo3 keeps its algorithms, Optuna samplers and converters in plain module-level dicts and looks for the
hyperparameter file inside its own package. Each ``register_*`` function below takes the freshly executed
rl-zoo3 module and adds ``paper_dqn`` to it; all of them are idempotent. The import hook
(:mod:`sb3_dqn_paper.zoo.hook`) calls them as rl-zoo3's modules load; :func:`register` imports the modules
and calls them explicitly (``python -m sb3_dqn_paper.zoo``).
"""

import functools
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from sb3_dqn_paper.errors import NonFiniteLossError, UnsupportedRLZooError
from sb3_dqn_paper.zoo.hyperparams import ALGO_NAME, default_hyperparams_path
from sb3_dqn_paper.zoo.switch import DISABLE_VARIABLE

#: rl-zoo3 releases this registration was tested with: ``[first, last)`` (as in pyproject's ``zoo`` extra).
TESTED_RL_ZOO3 = ((2, 9, 2), (2, 10, 0))
TESTED_RL_ZOO3_SPECIFIER = ">=2.9.2,<2.10"

_PATCHED_MARK = "__sb3_dqn_paper_default_config__"
#: Attribute set on an ``ExperimentManager`` whose model was resumed from a checkpoint.
_RESUMED_MARK = "_sb3_dqn_paper_resumed"


def parse_release(version: str) -> tuple[int, int, int]:
    """
    The ``major.minor.micro`` release of a version string (a missing micro counts as 0).

    :param version: e.g. ``"2.9.2"``, ``"2.10.0a1"``, ``"2.9"``
    :return: e.g. ``(2, 9, 2)``
    :raises UnsupportedRLZooError: if the string does not start with a release number
    """
    match = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise UnsupportedRLZooError(f"sb3-dqn-paper cannot read the rl-zoo3 version {version!r}")
    major, minor, micro = match.groups()
    return int(major), int(minor), int(micro or 0)


def check_rl_zoo3_version(version: str) -> None:
    """
    Refuse an rl-zoo3 release the registration was not tested with.

    :param version: The installed rl-zoo3 version
    :raises UnsupportedRLZooError: naming sb3-dqn-paper, the version, the tested range and the way out
    """
    low, high = TESTED_RL_ZOO3
    if not low <= parse_release(version) < high:
        raise UnsupportedRLZooError(
            f"sb3-dqn-paper registers 'paper_dqn' with rl-zoo3 by patching rl-zoo3's internals, and was tested with "
            f"rl_zoo3{TESTED_RL_ZOO3_SPECIFIER} only, but rl_zoo3 {version} is installed. "
            f"Install a tested rl-zoo3 (pip install 'rl_zoo3{TESTED_RL_ZOO3_SPECIFIER}', or the 'sb3-dqn-paper[zoo]' "
            f"extra), or set {DISABLE_VARIABLE}=0 to use rl-zoo3 without paper_dqn."
        )


def installed_rl_zoo3_version() -> str:
    """
    The version of the rl-zoo3 being imported (works while ``rl_zoo3/__init__.py`` is still executing).

    :return: The version string
    """
    return importlib.import_module("rl_zoo3._version").__version__


def register_algo(utils_module: ModuleType) -> None:
    """
    Check the rl-zoo3 version and add ``ALGOS["paper_dqn"] = PaperDQN``.

    ``train``, ``enjoy``, ``record_video``, ``push_to_hub`` and ``load_from_hub`` all build ``--algo`` from this
    same dict object, so adding to it before they are imported is enough.

    :param utils_module: ``rl_zoo3.utils``
    """
    check_rl_zoo3_version(installed_rl_zoo3_version())
    from sb3_dqn_paper.paper_dqn import PaperDQN

    utils_module.ALGOS[ALGO_NAME] = PaperDQN


def register_sampler(hyperparams_opt_module: ModuleType) -> None:
    """
    Add the Optuna sampler and its converter (used by ``--trial-id`` and by loading the best trial).

    :param hyperparams_opt_module: ``rl_zoo3.hyperparams_opt``
    """
    from sb3_dqn_paper.zoo.sampler import convert_paper_dqn_params, sample_paper_dqn_params

    hyperparams_opt_module.HYPERPARAMS_SAMPLER[ALGO_NAME] = sample_paper_dqn_params
    hyperparams_opt_module.HYPERPARAMS_CONVERTER[ALGO_NAME] = convert_paper_dqn_params


def register_experiment_manager(exp_manager_module: ModuleType) -> None:
    """
    Adapt ``ExperimentManager`` to ``--algo paper_dqn``; every other algorithm passes through untouched.

    - ``__init__``: without ``-conf``, read the package's ``paper_dqn.yml`` (rl-zoo3 would look for
      ``rl_zoo3/hyperparams/paper_dqn.yml`` inside its own package); a ``trained_agent`` that is a folder means
      its newest checkpoint (:func:`~sb3_dqn_paper.zoo.resume.newest_checkpoint_in`).
    - ``_load_pretrained_agent``: ``-i`` given a checkpoint resumes its run exactly
      (:func:`~sb3_dqn_paper.zoo.resume.load_for_resume`: no seed, no hyperparameter overrides, no
      ``replay_buffer.pkl``); a plain model file is loaded as rl-zoo3 does.
    - ``learn``: a resumed run continues its counters, ``-n`` being the run's total
      (:class:`~sb3_dqn_paper.zoo.resume.ContinuingRun`).
    - ``create_callbacks``: ``--save-freq`` writes checkpoints and handles SIGINT/SIGTERM
      (:func:`~sb3_dqn_paper.zoo.resume.save_freq_callback`), and evaluations leave the training run's random
      states alone (:class:`~sb3_dqn_paper.zoo.resume.EvalWithOwnRandomState`).
    - ``objective``: a trial whose loss became NaN or infinite (:class:`~sb3_dqn_paper.errors.NonFiniteLossError`)
      is pruned, as rl-zoo3 already does for the ``ValueError`` that NaNs cause in other algorithms, instead of
      ending the whole tuning run.

    :param exp_manager_module: ``rl_zoo3.exp_manager``
    """
    manager_class = exp_manager_module.ExperimentManager
    if getattr(manager_class.__init__, _PATCHED_MARK, False):
        return
    wrappers = {
        "__init__": _wrap_init(manager_class.__init__),
        "_load_pretrained_agent": _wrap_load_pretrained_agent(manager_class._load_pretrained_agent),
        "learn": _wrap_learn(manager_class.learn),
        "create_callbacks": _wrap_create_callbacks(manager_class.create_callbacks),
        "objective": _wrap_objective(manager_class.objective),
    }
    setattr(wrappers["__init__"], _PATCHED_MARK, True)
    for name, wrapper in wrappers.items():
        setattr(manager_class, name, wrapper)


def _wrap_init(original_init: Callable[..., None]) -> Callable[..., None]:
    """
    ``ExperimentManager.__init__`` for ``paper_dqn``: the package's hyperparameter file, ``-i`` given a folder, and
    ``-i ""`` on the command line refused (it would silently start a new run).

    :param original_init: rl-zoo3's ``__init__``
    :return: The wrapper
    """
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        is_paper_dqn = bound.arguments.get("algo") == ALGO_NAME
        if is_paper_dqn and not bound.arguments.get("config"):
            bound.arguments["config"] = str(default_hyperparams_path())
        trained_agent = bound.arguments.get("trained_agent") or ""
        if not is_paper_dqn and trained_agent:
            _refuse_paper_dqn_file(bound.arguments.get("algo"), trained_agent)
        if is_paper_dqn and not trained_agent:
            from sb3_dqn_paper.zoo.resume import refuse_empty_trained_agent

            refuse_empty_trained_agent(sys.argv)
        if is_paper_dqn and os.path.isdir(trained_agent):
            from sb3_dqn_paper.zoo.resume import newest_checkpoint_in

            bound.arguments["trained_agent"] = str(newest_checkpoint_in(trained_agent))
        original_init(*bound.args, **bound.kwargs)

    return __init__


def _refuse_paper_dqn_file(algo: Any, trained_agent: str) -> None:
    """
    Refuse ``-i`` with a PaperDQN model or checkpoint for another algorithm (``--algo dqn``): SB3's ``DQN.load`` would
    load the PaperDQN policy, which has no target network, and fail with an ``AttributeError`` deep inside.

    :param algo: The ``--algo`` of the run
    :param trained_agent: The ``-i`` file
    :raises InvalidArgumentError: naming the file and the ``--algo`` to use
    """
    from sb3_dqn_paper.errors import InvalidArgumentError, InvalidModelFileError
    from sb3_dqn_paper.file_checks import check_model_file

    if not os.path.isfile(trained_agent):
        return  # rl-zoo3 names a missing file itself
    try:
        check_model_file(trained_agent)
    except InvalidModelFileError:
        return  # not a PaperDQN file: rl-zoo3's loader decides
    raise InvalidArgumentError(
        f"{trained_agent} was saved by PaperDQN, so --algo {algo} cannot load it: resume or fine-tune it with "
        f"--algo {ALGO_NAME} -i {trained_agent}"
    )


def _wrap_load_pretrained_agent(original_load: Callable[..., Any]) -> Callable[..., Any]:
    """
    ``ExperimentManager._load_pretrained_agent`` for ``paper_dqn``: a checkpoint is resumed, a model file loaded as before.

    :param original_load: rl-zoo3's method
    :return: The wrapper
    """

    @functools.wraps(original_load)
    def _load_pretrained_agent(self: Any, hyperparams: dict[str, Any], env: Any) -> Any:
        if self.algo != ALGO_NAME:
            return original_load(self, hyperparams, env)
        from sb3_dqn_paper.checkpoint import is_checkpoint
        from sb3_dqn_paper.zoo import resume

        if not is_checkpoint(self.trained_agent):
            return original_load(self, hyperparams, env)
        model = resume.load_for_resume(
            self.trained_agent,
            env,
            self.n_timesteps,
            device=self.device,
            tensorboard_log=self.tensorboard_log,
            verbose=self.verbose,
        )
        resume.warn_ignored_hyperparams(self.custom_hyperparams, hyperparams, model)
        setattr(self, _RESUMED_MARK, True)
        return model

    return _load_pretrained_agent


def _wrap_learn(original_learn: Callable[..., None]) -> Callable[..., None]:
    """
    ``ExperimentManager.learn``: a run resumed from a checkpoint continues its counters up to ``n_timesteps``.

    :param original_learn: rl-zoo3's method (kept: it handles Ctrl-C, the progress bar and closing the env)
    :return: The wrapper
    """

    @functools.wraps(original_learn)
    def learn(self: Any, model: Any) -> None:
        if not getattr(self, _RESUMED_MARK, False):
            return original_learn(self, model)
        from sb3_dqn_paper.zoo.resume import ContinuingRun

        return original_learn(self, ContinuingRun(model))

    return learn


def _wrap_create_callbacks(original_create_callbacks: Callable[..., None]) -> Callable[..., None]:
    """
    ``ExperimentManager.create_callbacks`` for ``paper_dqn``: checkpoints for ``--save-freq``, evaluations isolated.

    :param original_create_callbacks: rl-zoo3's method
    :return: The wrapper
    """

    @functools.wraps(original_create_callbacks)
    def create_callbacks(self: Any) -> None:
        if self.algo != ALGO_NAME:
            return original_create_callbacks(self)
        from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback

        from sb3_dqn_paper.checkpoint import PaperCheckpointCallback
        from sb3_dqn_paper.zoo import resume

        save_freq = self.save_freq  # in agent steps; rl-zoo3 divides it by n_envs for SB3's callback
        # Only one callback may handle the signals (each restores the handlers it found when learn() ends)
        signals_handled = any(
            isinstance(callback, PaperCheckpointCallback) and callback.handle_signals for callback in self.callbacks
        )
        original_create_callbacks(self)
        for index, callback in enumerate(self.callbacks):
            if type(callback) is CheckpointCallback and save_freq > 0:
                self.callbacks[index] = resume.save_freq_callback(
                    save_freq, self.save_path, self.save_replay_buffer, handle_signals=not signals_handled
                )
            elif isinstance(callback, EvalCallback):
                self.callbacks[index] = resume.EvalWithOwnRandomState(callback)

    return create_callbacks


def _wrap_objective(original_objective: Callable[..., float]) -> Callable[..., float]:
    """
    ``ExperimentManager.objective`` for ``paper_dqn``: a trial whose loss became NaN or infinite is pruned.

    :param original_objective: rl-zoo3's method
    :return: The wrapper
    """

    @functools.wraps(original_objective)
    def objective(self: Any, trial: Any) -> float:
        if self.algo != ALGO_NAME:
            return original_objective(self, trial)
        import optuna

        try:
            return original_objective(self, trial)
        except NonFiniteLossError as error:
            print(f"Trial {trial.number} pruned: {error}")
            raise optuna.TrialPruned(str(error)) from error

    return objective


def register() -> None:
    """
    Import rl-zoo3 and add ``paper_dqn`` to it, with or without the import hook (idempotent).

    :raises UnsupportedRLZooError: if the installed rl-zoo3 was not tested with this package
    """
    register_algo(importlib.import_module("rl_zoo3.utils"))
    register_sampler(importlib.import_module("rl_zoo3.hyperparams_opt"))
    register_experiment_manager(importlib.import_module("rl_zoo3.exp_manager"))
