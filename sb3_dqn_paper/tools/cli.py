"""
``sb3-dqn-paper``: one command for the package's tools, dispatching to the ``main()`` of each module.

``sb3-dqn-paper COMMAND ARGS...`` runs what ``python -m MODULE ARGS...`` runs (both keep working)::

    sb3-dqn-paper evaluate ...            python -m sb3_dqn_paper.tools.evaluate ...
    sb3-dqn-paper report ...              python -m sb3_dqn_paper.tools.report ...
    sb3-dqn-paper record ...              python -m sb3_dqn_paper.tools.record ...
    sb3-dqn-paper checkpoint ...          python -m sb3_dqn_paper.tools.checkpoint ...
    sb3-dqn-paper export ...              python -m sb3_dqn_paper.tools.export ...
    sb3-dqn-paper campaign ...            python -m sb3_dqn_paper.tools.campaign ...
    sb3-dqn-paper held_out_q ...          python -m sb3_dqn_paper.tools.held_out_q ...
    sb3-dqn-paper overestimation ...      python -m sb3_dqn_paper.tools.overestimation ...
    sb3-dqn-paper fixed_action ...        python -m sb3_dqn_paper.tools.fixed_action ...
    sb3-dqn-paper bench speed ...         python -m sb3_dqn_paper.benchmarks.speed ...   (also: memory, timed_train,
                                                                                           update_variants, peak)
    sb3-dqn-paper zoo train ...           python -m sb3_dqn_paper.zoo train ...

Installed as a console script (``[project.scripts]`` in ``pyproject.toml``); ``python -m sb3_dqn_paper.tools.cli`` is the
same without the installed script. Each module is imported only when its command runs.
"""

import argparse
import contextlib
import importlib
import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

#: Command -> module whose ``main(argv)`` runs it.
COMMANDS = {
    "evaluate": "sb3_dqn_paper.tools.evaluate",
    "report": "sb3_dqn_paper.tools.report",
    "record": "sb3_dqn_paper.tools.record",
    "checkpoint": "sb3_dqn_paper.tools.checkpoint",
    "export": "sb3_dqn_paper.tools.export",
    "campaign": "sb3_dqn_paper.tools.campaign.cli",
    "held_out_q": "sb3_dqn_paper.tools.held_out_q",
    "overestimation": "sb3_dqn_paper.tools.overestimation",
    "fixed_action": "sb3_dqn_paper.tools.fixed_action",
    "zoo": "sb3_dqn_paper.zoo.__main__",
}
#: ``bench`` sub-command -> benchmark module.
BENCHMARKS = {
    "speed": "sb3_dqn_paper.benchmarks.speed",
    "memory": "sb3_dqn_paper.benchmarks.memory",
    "timed_train": "sb3_dqn_paper.benchmarks.timed_train",
    "update_variants": "sb3_dqn_paper.benchmarks.update_variants",
    "peak": "sb3_dqn_paper.benchmarks.peak",
}

USAGE = f"""usage: sb3-dqn-paper COMMAND [ARGS...]

The tools of sb3-dqn-paper; `sb3-dqn-paper COMMAND --help` shows each one's arguments.

commands:
  {", ".join(COMMANDS)}
  bench {{{",".join(BENCHMARKS)}}}
"""

BENCH_USAGE = f"""usage: sb3-dqn-paper bench {{{",".join(BENCHMARKS)}}} [ARGS...]

The benchmarks of sb3-dqn-paper (docs/benchmarks.md); `sb3-dqn-paper bench NAME --help` shows each one's arguments.
"""


def _resolve(argv: list[str]) -> tuple[str, list[str]] | None:
    """The module and the arguments for it, or ``None`` for an unknown or missing command."""
    if not argv:
        return None
    command, rest = argv[0], argv[1:]
    if command in COMMANDS:
        return COMMANDS[command], rest
    if command == "bench" and rest and rest[0] in BENCHMARKS:
        return BENCHMARKS[rest[0]], rest[1:]
    return None


@contextlib.contextmanager
def _usage_names(command: str) -> Iterator[None]:
    """
    While a command runs, its ``argparse`` usage lines name it as it was typed (``sb3-dqn-paper evaluate``), not as
    ``python -m sb3_dqn_paper.tools.evaluate``, which each module's parser names itself.

    :param command: The command as typed, e.g. ``"evaluate"`` or ``"bench speed"``
    """
    original = argparse.ArgumentParser.__init__

    def __init__(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.prog = re.sub(r"^python -m sb3_dqn_paper(\.\w+)*", f"sb3-dqn-paper {command}", self.prog, count=1)

    argparse.ArgumentParser.__init__ = __init__  # type: ignore[method-assign]
    try:
        yield
    finally:
        argparse.ArgumentParser.__init__ = original  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run ``sb3-dqn-paper COMMAND ARGS...``.

    :param argv: The arguments (default: ``sys.argv[1:]``)
    :return: The command's exit status (0 for ``--help`` of this dispatcher, 2 for an unknown command)
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments in ([], ["-h"], ["--help"]):
        print(USAGE, end="")
        return 0 if arguments else 2
    if arguments in (["bench"], ["bench", "-h"], ["bench", "--help"]):
        print(BENCH_USAGE, end="")
        return 0 if len(arguments) == 2 else 2
    resolved = _resolve(arguments)
    if resolved is None:
        print(USAGE, end="", file=sys.stderr)
        print(f"sb3-dqn-paper: unknown command {' '.join(arguments[:2])!r}", file=sys.stderr)
        return 2
    module_name, rest = resolved
    command = " ".join(arguments[: len(arguments) - len(rest)])
    module = importlib.import_module(module_name)
    with _usage_names(command):
        status = module.main(rest)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
