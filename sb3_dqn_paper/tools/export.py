"""
Ship a trained agent: its model file without the replay buffer, laid out as an rl-zoo3 run folder, so that::

    python -m rl_zoo3.enjoy --algo paper_dqn --env BreakoutNoFrameskip-v4 -f FOLDER

plays it and ``PaperDQN.load(FOLDER/paper_dqn/BreakoutNoFrameskip-v4_1/BreakoutNoFrameskip-v4.zip)`` loads it.

The source is a file of an rl-zoo3 run of ``--algo paper_dqn``: a checkpoint written by ``--save-freq`` (about 7 GB
with a full replay memory) or the run's final model. What is written, under ``FOLDER/paper_dqn/<EnvId>_<run id>/``:

- ``<EnvId>.zip``: the model as ``PaperDQN.save`` writes it (weights, optimizer state, hyperparameters, counters; no
  replay buffer), a few MB for the paper's network;
- ``<EnvId>/config.yml``: the run's hyperparameters, copied (``enjoy`` rebuilds the env from its ``env_wrapper`` and
  ``frame_stack``);
- ``<EnvId>/args.yml``: the run's command-line arguments without the ones that name files of the machine it ran on
  (``enjoy`` reads ``env_kwargs`` from it), and without ``seed`` for a run resumed from a checkpoint (``-i``), whose
  seed rl-zoo3 draws but an exact resume does not apply;
- ``<EnvId>/agent.json``: where the agent comes from (source file name, agent steps, updates, games, exploration rate,
  versions, SHA-256 of the model file and of its source file, and the checkpoint the run resumed, if it did).

rl-zoo3 has no command for this: its ``enjoy`` reads run folders as ``train`` writes them, and a checkpoint with its
replay buffer is too large to ship.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sb3_dqn_paper.errors import InvalidArgumentError, MissingFileError, OutputExistsError
from sb3_dqn_paper.tools.common import run_tool

#: ``args.yml`` entries that name files or services of the machine that trained the agent; not shipped.
MACHINE_ARGS = ("log_folder", "trained_agent", "tensorboard_log", "conf_file", "optimization_log_path", "storage")
#: Name of the provenance file written beside ``config.yml``.
AGENT_INFO_FILE = "agent.json"


def file_sha256(path: str | os.PathLike) -> str:
    """
    :param path: A file
    :return: The SHA-256 of its bytes, in hex (read in 1 MiB blocks)
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_run_mapping(path: str) -> Any:
    """
    Read a ``config.yml`` or ``args.yml`` of the source run, refusing one that ``enjoy`` could not use.

    :param path: The file
    :return: Its content, a mapping
    :raises InvalidArgumentError: for a file that cannot be read, is not YAML, holds a Python object other than
        rl-zoo3's ``OrderedDict``, or is not a mapping
    """
    import yaml

    from sb3_dqn_paper.tools.run_folder import load_run_file

    try:
        content = load_run_file(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidArgumentError(
            f"{path} cannot be read as the YAML file rl-zoo3 writes: {error}. The agent was not exported"
        ) from error
    if not isinstance(content, dict):
        raise InvalidArgumentError(
            f"{path} is damaged: it holds a {type(content).__name__}, not the mapping rl-zoo3 writes. "
            "The agent was not exported"
        )
    return content


def _checkpoint_meta(source: str) -> dict[str, Any] | None:
    """
    The ``meta.json`` of a checkpoint, or ``None`` for a file without one (a plain model file).

    :param source: The file to export
    :return: The checkpoint's summary, or ``None``
    :raises CheckpointError: for a checkpoint whose summary is damaged or of a newer format (not exported as a plain
        model without its provenance)
    """
    from sb3_dqn_paper.checkpoint import META_ENTRY, read_checkpoint_meta

    try:
        with zipfile.ZipFile(source) as archive:
            has_meta = META_ENTRY in archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None  # not a zip: PaperDQN.load refuses it with a clear error
    return read_checkpoint_meta(source) if has_meta else None


def _restore_legacy_replace(target: str) -> None:
    """
    Repair what an export by an earlier version left when it was killed: the previous agent stranded in
    ``.<name>.old.<random>/agent`` (put back when ``target`` is missing), or a staging folder ``.<name>.<random>``.
    """
    parent, name = os.path.split(target)
    try:
        entries = os.listdir(parent or ".")
    except OSError:
        return
    for entry in entries:
        path = os.path.join(parent, entry)
        if re.fullmatch(rf"\.{re.escape(name)}\.old\.[a-z0-9_]{{8}}", entry) and os.path.isdir(path):
            if os.path.isdir(os.path.join(path, "agent")) and not os.path.lexists(target):
                os.rename(os.path.join(path, "agent"), target)
                warnings.warn(f"put {target} back from {entry}, where an interrupted export left it", stacklevel=3)
            shutil.rmtree(path, ignore_errors=True)
        elif re.fullmatch(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}", entry) and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            warnings.warn(f"removed {path}, the staging folder of an export that was interrupted", stacklevel=3)


def export_agent(source: str, folder: str, env_id: str | None = None, run_id: int = 1, overwrite: bool = False) -> str:
    """
    Write the agent of ``source`` into ``folder`` in rl-zoo3's layout (see the module docstring).

    The run folder is written beside the target and then takes its place (:func:`~sb3_dqn_paper.atomic_io.atomic_folder`):
    with ``overwrite`` the previous agent is swapped for the new one in one atomic step, so that an interrupted
    export leaves one of the two complete agents, never none. Leftovers of interrupted exports are removed first.

    :param source: A checkpoint or model file of an rl-zoo3 run of ``paper_dqn`` (in its run folder)
    :param folder: The folder to give ``enjoy -f``; the agent goes to ``folder/paper_dqn/<EnvId>_<run_id>``
    :param env_id: Gymnasium id; default: read from the run folder's name (``<EnvId>_<n>``)
    :param run_id: The ``<n>`` of the written run folder (``enjoy --exp-id``)
    :param overwrite: Replace an agent already there (otherwise it is refused and left as it is)
    :return: The written run folder
    :raises MissingFileError: when the source or its run's ``config.yml`` is missing
    :raises InvalidArgumentError: for a source that is not a PaperDQN model, an unknown env id, or a damaged
        ``config.yml`` / ``args.yml``
    :raises CheckpointError: for a checkpoint whose ``meta.json`` is damaged
    :raises OutputExistsError: for an existing target without ``overwrite``
    :raises SaveError: when the agent cannot be written; what was at the target is then untouched
    """
    from sb3_dqn_paper.atomic_io import atomic_folder, recover_folder_replace
    from sb3_dqn_paper.paper_dqn import PaperDQN
    from sb3_dqn_paper.tools.run_folder import env_id_from_folder

    if not os.path.isfile(source):
        raise MissingFileError(f"{source}: no such model or checkpoint file")
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 1:
        raise InvalidArgumentError(f"--run-id must be a whole number >= 1, got {run_id!r}")
    run_folder = os.path.dirname(os.path.abspath(source))
    env_id = env_id or env_id_from_folder(run_folder)
    if env_id is None:
        raise InvalidArgumentError(
            f"{source} is not in an rl-zoo3 run folder (<EnvId>_<n>): give the env id with --env ENV_ID"
        )
    env_name = env_id.replace("/", "-")
    config_file = os.path.join(run_folder, env_name, "config.yml")
    if not os.path.isfile(config_file):
        raise MissingFileError(
            f"{config_file} is missing: rl_zoo3.enjoy rebuilds the env from the run's config.yml, so export a file of an "
            "rl-zoo3 run folder (logs/paper_dqn/<EnvId>_<n>/...)"
        )
    # Everything that could be refused is checked before the long load
    _read_run_mapping(config_file)
    args_file = os.path.join(run_folder, env_name, "args.yml")
    args = _read_run_mapping(args_file) if os.path.isfile(args_file) else None
    target = os.path.join(folder, "paper_dqn", f"{env_name}_{run_id}")
    recover_folder_replace(target)  # an agent stranded by a killed export is put back before it is looked for
    _restore_legacy_replace(target)
    if os.path.lexists(target) and not overwrite:
        raise OutputExistsError(f"{target} already exists: pass --overwrite to replace it")
    meta = _checkpoint_meta(source)
    # A file of another algorithm is refused here with a clear error
    model = PaperDQN.load(source, device="cpu")
    info: dict[str, Any] = {
        "env_id": env_id,
        "source": os.path.basename(source),
        "source_sha256": file_sha256(source),
        "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates),
        "exploration_rate": float(model.exploration_rate),
    }
    if meta is not None:
        info.update({key: meta.get(key) for key in ("episodes", "written_by", "created", "torch")})
    with atomic_folder(target, overwrite=overwrite) as staging:
        model_file = os.path.join(staging, f"{env_name}.zip")
        model.save(model_file)
        os.makedirs(os.path.join(staging, env_name))
        shutil.copyfile(config_file, os.path.join(staging, env_name, "config.yml"))
        if args is not None:
            import yaml

            shipped = OrderedDict((key, value) for key, value in args.items() if key not in MACHINE_ARGS)
            if args.get("trained_agent"):
                # a run started with -i: rl-zoo3 drew a seed that an exact resume does not apply (the checkpoint's
                # random states are restored), so it is not shipped as if it were the agent's seed
                shipped.pop("seed", None)
                info["resumed_from"] = os.path.basename(args["trained_agent"])
            with open(os.path.join(staging, env_name, "args.yml"), "w") as file:
                yaml.dump(shipped, file)
        info["model_sha256"] = file_sha256(model_file)
        info["model_bytes"] = os.path.getsize(model_file)
        with open(os.path.join(staging, env_name, AGENT_INFO_FILE), "w") as file:
            json.dump(info, file, indent=2)
            file.write("\n")
    return target


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.export``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.export",
        description="Ship a trained agent: the model of a checkpoint or model file of an rl-zoo3 run, without its replay "
        "buffer, laid out so that `python -m rl_zoo3.enjoy --algo paper_dqn --env ENV -f FOLDER` plays it.",
    )
    parser.add_argument("source", help="checkpoint (rl_model_<steps>_steps.zip) or model file in an rl-zoo3 run folder")
    parser.add_argument("--out", required=True, help="folder for enjoy's -f; the agent goes to OUT/paper_dqn/<EnvId>_<n>")
    parser.add_argument("--env", help="Gymnasium id (default: from the run folder's name)")
    parser.add_argument("--run-id", type=int, default=1, help="the <n> of the written run folder (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an agent already in OUT/paper_dqn/<EnvId>_<n>")
    return parser


def run(args: argparse.Namespace) -> int:
    """
    Export the agent of the parsed command line and print its summary.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    target = export_agent(args.source, args.out, args.env, args.run_id, args.overwrite)
    with open(os.path.join(target, os.path.basename(target).rsplit("_", 1)[0], AGENT_INFO_FILE)) as file:
        print(file.read(), end="")
    print(f"wrote {target}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.export``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
