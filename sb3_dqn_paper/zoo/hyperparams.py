"""
Where the shipped ``paper_dqn.yml`` is, and how to read it.

The file is package data, ``sb3_dqn_paper/hyperparams/paper_dqn.yml``, read with :mod:`importlib.resources`: the
same path for a wheel and an editable install. ``hyperparams/paper_dqn.yml`` at the top of the repository (rl-zoo3's
own layout, where users look for it) is a symbolic link to it, so there is one file to edit.
"""

import importlib.resources
from pathlib import Path
from typing import Any

import yaml

from sb3_dqn_paper.errors import InvalidArgumentError, MissingFileError

#: Name under which the algorithm is registered with rl-zoo3, and the stem of its hyperparameter file.
ALGO_NAME = "paper_dqn"


def default_hyperparams_path() -> Path:
    """
    The ``paper_dqn.yml`` that rl-zoo3 reads when no ``-conf`` is given: the package's own.

    :return: Its path (``.../sb3_dqn_paper/hyperparams/paper_dqn.yml``)
    :raises MissingFileError: if the file is missing or not on the file system (a broken install)
    """
    resource = importlib.resources.files("sb3_dqn_paper") / "hyperparams" / f"{ALGO_NAME}.yml"
    # rl-zoo3 opens -conf by path, so the file must be a real one (not inside a zip import)
    if isinstance(resource, Path) and resource.is_file():
        return resource
    raise MissingFileError(
        f"sb3-dqn-paper: {ALGO_NAME}.yml is missing (looked for {resource}). "
        "Reinstall the package, or pass a hyperparameter file to rl-zoo3 with -conf."
    )


def load_hyperparams(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """
    Read a hyperparameter file as rl-zoo3 does (``yaml.safe_load``).

    :param path: The file; ``None`` for :func:`default_hyperparams_path`
    :return: One dict of hyperparameters per env id (and ``"atari"``, the fallback for Atari ids without an entry)
    :raises ValueError: if the file does not hold a mapping of mappings
    """
    path = default_hyperparams_path() if path is None else Path(path)
    with open(path) as file:
        content = yaml.safe_load(file)
    if not isinstance(content, dict) or not all(isinstance(entry, dict) for entry in content.values()):
        raise InvalidArgumentError(f"{path} must map env ids to dicts of hyperparameters, as rl-zoo3 expects")
    return content
