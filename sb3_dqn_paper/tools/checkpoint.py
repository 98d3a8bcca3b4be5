"""
``python -m sb3_dqn_paper.tools.checkpoint``: show and verify checkpoints, or print the newest usable one.
"""

import argparse
import json
import pathlib
import sys
import warnings

from sb3_dqn_paper.checkpoint.archive import (
    verify_checkpoint,
)
from sb3_dqn_paper.checkpoint.loading import (
    latest_checkpoint,
    list_checkpoints,
)
from sb3_dqn_paper.errors import (
    CheckpointError,
)


def main(argv: list[str] | None = None) -> int:
    """
    Show a checkpoint's summary and check every entry's CRC: ``python -m sb3_dqn_paper.tools.checkpoint FILE``.

    :param argv: Command-line arguments (default: ``sys.argv[1:]``)
    :return: Exit status: 0 if every file is a sound checkpoint, 1 otherwise
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.checkpoint",
        description="Print the summary of sb3-dqn-paper checkpoints and verify their integrity (CRC of every entry).",
    )
    parser.add_argument("paths", nargs="+", type=pathlib.Path, help="checkpoint files, or folders of them")
    parser.add_argument("--name-prefix", default="paper_dqn", help="file name prefix of checkpoints in a folder")
    parser.add_argument(
        "--latest",
        action="store_true",
        help="print only the path of the newest usable checkpoint of each folder (exit status 1 if a folder has none), "
        "e.g. for rl-zoo3's -i in a job script",
    )
    args = parser.parse_args(argv)
    if args.latest:
        return _print_latest(args.paths, args.name_prefix)
    status = 0
    for given in args.paths:
        paths = list_checkpoints(given, args.name_prefix) if given.is_dir() else [given]
        for path in paths:
            try:
                meta = verify_checkpoint(path)
            except CheckpointError as error:
                print(f"BAD {error}")
                status = 1
                continue
            print(f"OK  {path}: " + json.dumps(meta, indent=2))
    return status


def _print_latest(paths: list[pathlib.Path], name_prefix: str) -> int:
    """
    ``--latest``: print the newest checkpoint of each folder that passes :func:`verify_checkpoint` (every entry's
    CRC); a file given is printed if it passes. Damaged files are named on stderr. Nothing is printed on stdout for
    a folder without one, so that ``-i "$(...)"`` gets an empty path, which ``--algo paper_dqn`` refuses.

    :param paths: Folders or files
    :param name_prefix: File name prefix of the checkpoints in a folder
    :return: Exit status: 1 if one of them has no usable checkpoint
    """
    status = 0
    for given in paths:
        with warnings.catch_warnings(record=True) as skipped:
            warnings.simplefilter("always")
            if given.is_dir():
                latest = latest_checkpoint(given, name_prefix, verify=True)
            else:
                try:
                    latest = given if verify_checkpoint(given) else None
                except CheckpointError as error:
                    warnings.warn(f"skipping a checkpoint that cannot be used: {error}", stacklevel=1)
                    latest = None
        for warning in skipped:
            print(warning.message, file=sys.stderr)
        if latest is None:
            print(f"no usable checkpoint {name_prefix}_<steps>_steps.zip in {given}", file=sys.stderr)
            status = 1
        else:
            print(latest)
    return status


if __name__ == "__main__":
    sys.exit(main())
