"""
Where the shipped ``paper_dqn.yml`` is, and how to read it.

The file lives at the top of the repository (``hyperparams/paper_dqn.yml``, next to rl-zoo3's own layout) and
the wheel copies it into the package (``sb3_dqn_paper/hyperparams/paper_dqn.yml``, see ``pyproject.toml``).
An editable install imports the package from the source tree, where only the top-level copy exists.
"""

from pathlib import Path
from typing import Any

import yaml

from sb3_dqn_paper.errors import InvalidArgumentError, MissingFileError

#: Name under which the algorithm is registered with rl-zoo3, and the stem of its hyperparameter file.
ALGO_NAME = "paper_dqn"


def default_hyperparams_path() -> Path:
    """
    The ``paper_dqn.yml`` that rl-zoo3 reads when no ``-conf`` is given.

    :return: Its path: inside the installed package, or at the top of the source tree for an editable install
    :raises FileNotFoundError: if neither copy exists (a broken install)
    """
    package_dir = Path(__file__).resolve().parent.parent
    packaged = package_dir / "hyperparams" / f"{ALGO_NAME}.yml"
    if packaged.is_file():
        return packaged
    source_tree = package_dir.parent
    in_source_tree = source_tree / "hyperparams" / f"{ALGO_NAME}.yml"
    # Only trust the top-level copy inside this project's own checkout, never a stray folder in site-packages
    if (source_tree / "pyproject.toml").is_file() and in_source_tree.is_file():
        return in_source_tree
    raise MissingFileError(
        f"sb3-dqn-paper: {ALGO_NAME}.yml is missing (looked for {packaged} and {in_source_tree}). "
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
