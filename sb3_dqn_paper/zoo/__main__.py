"""
``python -m sb3_dqn_paper.zoo COMMAND ARGS``: rl-zoo3's commands with ``paper_dqn`` registered explicitly.

The alternative to the import hook for those who switch it off (``SB3_DQN_PAPER_ZOO_HOOK=0``) or prefer no
start-up magic: it calls :func:`sb3_dqn_paper.zoo.registration.register` and then runs the rl-zoo3 module
exactly as ``python -m rl_zoo3.COMMAND ARGS`` would, for example::

    python -m sb3_dqn_paper.zoo train --algo paper_dqn --env CartPole-v1
    python -m sb3_dqn_paper.zoo enjoy --algo paper_dqn --env CartPole-v1 -f logs/

``record_training`` is not offered: it starts ``python -m rl_zoo3.record_video`` in a new process, which only
knows ``paper_dqn`` through the hook.
"""

import argparse
import runpy
import sys

#: The commands, and the rl-zoo3 module each runs as ``__main__``.
COMMANDS = {
    "train": "rl_zoo3.train",
    "enjoy": "rl_zoo3.enjoy",
    "record_video": "rl_zoo3.record_video",
    "plot_train": "rl_zoo3.plots.plot_train",
    "all_plots": "rl_zoo3.plots.all_plots",
    "plot_from_file": "rl_zoo3.plots.plot_from_file",
    "push_to_hub": "rl_zoo3.push_to_hub",
    "load_from_hub": "rl_zoo3.load_from_hub",
}


def main(argv: list[str] | None = None) -> None:
    """
    Register ``paper_dqn`` with rl-zoo3 and run one of its commands.

    :param argv: ``[COMMAND, *ARGS]``; ``None`` for ``sys.argv[1:]``
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.zoo",
        description="Run an rl-zoo3 command with the 'paper_dqn' algorithm registered (no import hook needed). "
        "Everything after COMMAND goes to rl-zoo3 unchanged, e.g. 'train --algo paper_dqn --env CartPole-v1'.",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="rl-zoo3 command (the module rl_zoo3.COMMAND)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the rl-zoo3 command (see COMMAND --help)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    from sb3_dqn_paper.zoo.registration import register

    register()
    module_name = COMMANDS[args.command]
    sys.argv = [f"python -m {module_name}", *args.args]
    runpy.run_module(module_name, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
