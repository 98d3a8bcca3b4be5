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
import re
from types import ModuleType
from typing import Any

from sb3_dqn_paper.errors import NonFiniteLossError, UnsupportedRLZooError
from sb3_dqn_paper.zoo.hook import DISABLE_VARIABLE
from sb3_dqn_paper.zoo.hyperparams import ALGO_NAME, default_hyperparams_path

#: rl-zoo3 releases this registration was tested with: ``[first, last)`` (as in pyproject's ``zoo`` extra).
TESTED_RL_ZOO3 = ((2, 9, 2), (2, 10, 0))
TESTED_RL_ZOO3_SPECIFIER = ">=2.9.2,<2.10"

_PATCHED_MARK = "__sb3_dqn_paper_default_config__"


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
      ``rl_zoo3/hyperparams/paper_dqn.yml`` inside its own package).
    - ``objective``: a trial whose loss became NaN or infinite (:class:`~sb3_dqn_paper.errors.NonFiniteLossError`)
      is pruned, as rl-zoo3 already does for the ``ValueError`` that NaNs cause in other algorithms, instead of
      ending the whole tuning run.

    :param exp_manager_module: ``rl_zoo3.exp_manager``
    """
    manager_class = exp_manager_module.ExperimentManager
    if getattr(manager_class.__init__, _PATCHED_MARK, False):
        return
    original_init = manager_class.__init__
    original_objective = manager_class.objective
    signature = inspect.signature(original_init)

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        if bound.arguments.get("algo") == ALGO_NAME and not bound.arguments.get("config"):
            bound.arguments["config"] = str(default_hyperparams_path())
        original_init(*bound.args, **bound.kwargs)

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

    setattr(__init__, _PATCHED_MARK, True)
    manager_class.__init__ = __init__
    manager_class.objective = objective


def register() -> None:
    """
    Import rl-zoo3 and add ``paper_dqn`` to it, with or without the import hook (idempotent).

    :raises UnsupportedRLZooError: if the installed rl-zoo3 was not tested with this package
    """
    register_algo(importlib.import_module("rl_zoo3.utils"))
    register_sampler(importlib.import_module("rl_zoo3.hyperparams_opt"))
    register_experiment_manager(importlib.import_module("rl_zoo3.exp_manager"))
