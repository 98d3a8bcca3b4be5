"""
``python -m sb3_dqn_paper.tools.campaign`` (also ``sb3-dqn-paper campaign``)::

    run OUT --games table1|ID[,ID...] --steps N [--seeds 0[,1,...]] [--jobs J] [--milestones N[,N...]]
        [--save-freq N] [--eval-every N] [--eval-steps N] [--device D] [--replay-compression zstd|lz4|none]
        [--hyperparams KEY:VALUE ...]
    status OUT
    commands OUT
    report OUT --out DIR
    combine OUT [OUT ...] --out DIR

``run`` on a new folder starts the campaign; the same command on its folder resumes it (options left out take the
folder's values; ``--steps`` may be raised, for all runs or for the runs named by ``--games`` / ``--seeds``).
"""

import argparse
import os
import pathlib
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sb3_dqn_paper.errors import InvalidArgumentError, PaperDQNError
from sb3_dqn_paper.tools.campaign.config import (
    COMPRESSIONS,
    CONFIG_FILE,
    CampaignConfig,
    make_config,
    merge_with_saved,
    parse_games,
    parse_int,
    parse_int_list,
    read_config,
    run_name,
    write_config,
)

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from sb3_dqn_paper.tools.campaign.scheduler import Scheduler

#: Bytes per stored transition of a 1M replay memory, the largest of the seven games (docs/replay-buffer.md).
CHECKPOINT_BYTES_PER_TRANSITION = {"zstd": 1_404, "lz4": 1_980, "none": 7_056}
#: Seconds between two status tables when the output is not a terminal.
PLAIN_STATUS_INTERVAL = 600.0


class StatusReport:
    """
    What ``campaign run`` shows of its runs, called by the scheduler at every poll (about once a second): the table
    is built only when it is shown, since building it reads every run's files (12 ms of CPU for seven runs on a 2.8 GHz
    Intel Xeon; built at every poll and thrown away, it took 1 % of a core from the runs of a campaign writing to a log
    file).

    :param build: Builds the table from the scheduler
    :param show: Shows it (``Live.update`` in a terminal, ``Console.print`` for a log file)
    :param interval: Seconds between two tables shown (0: every call)
    :param clock: Seconds, monotonic (``time.monotonic``; a test passes its own)
    """

    def __init__(
        self,
        build: Callable[["Scheduler"], "RenderableType"],
        show: Callable[["RenderableType"], None],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.build = build
        self.show = show
        self.interval = interval
        self.clock = clock
        self.last_shown: float | None = None

    def __call__(self, scheduler: "Scheduler", force: bool = False) -> None:
        """
        Show the table if it is due.

        :param scheduler: The running scheduler
        :param force: Show it even if the last one is less than ``interval`` old (the table at the end of a run)
        """
        now = self.clock()
        if not force and self.last_shown is not None and now - self.last_shown < self.interval:
            return
        self.last_shown = now
        self.show(self.build(scheduler))


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.campaign",
        description="Train a set of games to a budget with rl_zoo3.train --algo paper_dqn, through stops and resumes; "
        "evaluate with the paper's protocol; report in Table 1's layout.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start a campaign, or resume it (the same command)")
    run.add_argument("out", help="the campaign folder (outside any git checkout: checkpoints are GBs)")
    run.add_argument("--games", help="table1 (the paper's seven games) or comma-separated ids / Table 1 names")
    run.add_argument("--steps", help="agent steps of each run (its total), e.g. 2500000")
    run.add_argument("--seeds", help="comma-separated seeds, one run per game and seed (default 0)")
    run.add_argument("--jobs", help="runs at a time (default: one per core)")
    run.add_argument("--milestones", help="agent steps every run reaches before any goes past, e.g. 1000000,2500000")
    run.add_argument("--save-freq", help="agent steps between checkpoints (default 250000)")
    run.add_argument("--eval-every", help="agent steps between evaluations, a multiple of --save-freq (default 250000)")
    run.add_argument("--eval-steps", help="agent steps of each paper-protocol evaluation (default 10000)")
    run.add_argument("--device", help="torch device of the runs (default cpu)")
    run.add_argument(
        "--replay-compression",
        choices=COMPRESSIONS,
        help="codec of the replay frames (default zstd: about 1 GB per 1M transitions instead of 7.1 GB; "
        "the same weights are learnt)",
    )
    run.add_argument("--hyperparams", nargs="+", metavar="KEY:VALUE", help="passed to rl_zoo3.train --hyperparams")
    run.add_argument("--keep-checkpoints", type=int, default=2, help="sound checkpoints kept per run (default 2)")
    run.add_argument("--skip-disk-check", action="store_true", help="start even if the disk seems too small")
    status = commands.add_parser("status", help="a table of every run")
    status.add_argument("out")
    listing = commands.add_parser("commands", help="print each run's own resumable command (for a cluster scheduler)")
    listing.add_argument("out")
    report = commands.add_parser("report", help="Table 1 at every budget reached, learning curves, agents")
    report.add_argument("out")
    report.add_argument("--out", dest="report_out", required=True, help="folder of the report")
    report.add_argument("--agents", help="export each run's latest evaluated agent here (default DIR/agents)")
    combine = commands.add_parser("combine", help="one Table 1 from several campaigns, each game from its furthest run")
    combine.add_argument("campaigns", nargs="+", metavar="OUT", help="campaign folders, oldest first")
    combine.add_argument("--out", dest="report_out", required=True, help="folder of the report")
    return parser


def _given_config(args: argparse.Namespace, saved: CampaignConfig | None) -> tuple[CampaignConfig, bool]:
    """The configuration the command line asks for; options left out take the saved (or default) values."""

    def pick(value: str | None, saved_value: object, default: object, parse: object) -> object:
        if value is not None:
            return parse(value)  # type: ignore[operator]
        return saved_value if saved is not None else default

    if saved is None and (args.games is None or args.steps is None):
        raise InvalidArgumentError("a new campaign needs --games and --steps")
    games = parse_games(args.games) if args.games is not None else saved.games  # type: ignore[union-attr]
    seeds = parse_int_list(args.seeds, "--seeds", 0) if args.seeds is not None else (saved.seeds if saved else [0])
    if args.steps is not None:
        steps = parse_int(args.steps, "--steps", 1)
    else:
        steps = min(saved.targets[run_name(game, seed)] for game in games for seed in seeds)  # type: ignore[union-attr]
    config = make_config(
        games=games,
        seeds=seeds,
        steps=steps,
        milestones=pick(args.milestones, saved and saved.milestones, [], lambda v: parse_int_list(v, "--milestones", 1)),  # type: ignore[arg-type]
        save_freq=pick(args.save_freq, saved and saved.save_freq, 250_000, lambda v: parse_int(v, "--save-freq", 1)),  # type: ignore[arg-type]
        eval_every=pick(args.eval_every, saved and saved.eval_every, 250_000, lambda v: parse_int(v, "--eval-every", 1)),  # type: ignore[arg-type]
        eval_steps=pick(args.eval_steps, saved and saved.eval_steps, 10_000, lambda v: parse_int(v, "--eval-steps", 1)),  # type: ignore[arg-type]
        device=pick(args.device, saved and saved.device, "cpu", str),  # type: ignore[arg-type]
        hyperparams=pick(args.hyperparams, saved and saved.hyperparams, [], list),  # type: ignore[arg-type]
        replay_compression=pick(args.replay_compression, saved and saved.replay_compression, "zstd", str),  # type: ignore[arg-type]
    )
    return config, args.milestones is not None


def _check_disk(out: pathlib.Path, config: CampaignConfig, keep: int) -> str:
    """:return: A line on the disk the campaign needs at most; raises when the free space is clearly too small"""
    transitions = min(config.steps, 1_000_000)
    per_checkpoint = transitions * CHECKPOINT_BYTES_PER_TRANSITION[config.replay_compression]
    runs = len(config.games) * len(config.seeds)
    need = runs * (keep + 1) * per_checkpoint  # keep + the one being written
    probe = out
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    line = (
        f"disk: up to {need / 1e9:.1f} GB for checkpoints ({runs} runs x {keep + 1} x {per_checkpoint / 1e9:.2f} GB, "
        f"{config.replay_compression} frames), {free / 1e9:.1f} GB free"
    )
    if free < need:
        raise InvalidArgumentError(
            f"{line}: not enough. Use --replay-compression zstd, --keep-checkpoints 1, a larger disk, or --skip-disk-check"
        )
    return line


def cmd_run(args: argparse.Namespace) -> int:
    """``campaign run``: start or resume."""
    from rich.console import Console

    from sb3_dqn_paper.tools.campaign.scheduler import Scheduler
    from sb3_dqn_paper.tools.campaign.status import campaign_status, status_table

    out = pathlib.Path(args.out).absolute()
    saved = read_config(out)
    if saved is None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgumentError(
            f"{out} exists and is not a campaign folder (no {CONFIG_FILE}); give a new or empty folder, so that "
            "nothing in it is overwritten"
        )
    given, milestones_given = _given_config(args, saved)
    config = merge_with_saved(saved, given, milestones_given) if saved is not None else given
    jobs = parse_int(args.jobs, "--jobs", 1) if args.jobs is not None else max(1, len(os.sched_getaffinity(0)))
    if args.keep_checkpoints < 1:
        raise InvalidArgumentError(f"--keep-checkpoints must be at least 1, got {args.keep_checkpoints}")
    try:
        import rl_zoo3  # noqa: F401
    except ImportError as error:
        raise InvalidArgumentError("campaign run needs rl-zoo3: pip install 'sb3-dqn-paper[zoo]'") from error
    disk = None if args.skip_disk_check else _check_disk(out, config, args.keep_checkpoints)
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, config)
    selected = {run_name(game, seed) for game in given.games for seed in given.seeds}

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file: no wrapping at 80 columns
    live = None

    def say(line: str) -> None:
        target = live.console if live is not None else console
        target.print(f"[{time.strftime('%H:%M:%S')}] {line}", highlight=False, soft_wrap=True, markup=False)

    def build(scheduler: Scheduler) -> "Table":
        statuses = [s for s in campaign_status(out, config, set(scheduler.segments)) if s.run.name in selected]
        return status_table(statuses, title=f"campaign {out} at {time.strftime('%H:%M:%S')}")

    if disk:
        say(disk)
    if console.is_terminal:
        from rich.live import Live

        with Live(console=console, refresh_per_second=1) as live:
            report = StatusReport(build, live.update, interval=0.0)
            scheduler = Scheduler(out, config, jobs, args.keep_checkpoints, report=report, say=say, selected=selected)
            status = scheduler.run()
    else:
        report = StatusReport(build, console.print, interval=PLAIN_STATUS_INTERVAL)
        scheduler = Scheduler(out, config, jobs, args.keep_checkpoints, report=report, say=say, selected=selected)
        status = scheduler.run()
        report(scheduler, force=True)
    if scheduler.stop_signal is not None:
        say("stopped; run the same command to go on")
        return 0
    return status


def cmd_status(args: argparse.Namespace) -> int:
    """``campaign status``: the table."""
    from rich.console import Console

    from sb3_dqn_paper.tools.campaign.status import campaign_status, status_table

    config = _existing_config(args.out)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(status_table(campaign_status(args.out, config), title=f"campaign {args.out}"))
    return 0


def cmd_commands(args: argparse.Namespace) -> int:
    """``campaign commands``: each run's own command, resumable and idempotent."""
    config = _existing_config(args.out)
    out = shlex.quote(str(pathlib.Path(args.out).absolute()))
    print("# one command per run; each resumes its run from its newest sound checkpoint, and does nothing if it is done")
    for game in config.games:
        for seed in config.seeds:
            print(f"python -m sb3_dqn_paper.tools.campaign run {out} --games {game} --seeds {seed} --jobs 1")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``campaign report``: Table 1 and the rest."""
    from sb3_dqn_paper.tools.campaign.table import write_campaign_report

    config = _existing_config(args.out)
    written = write_campaign_report(args.out, config, args.report_out, agents=args.agents)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_combine(args: argparse.Namespace) -> int:
    """``campaign combine``: Table 1 of several campaigns together."""
    from sb3_dqn_paper.tools.campaign.combine import write_combined_report

    for path in write_combined_report(args.campaigns, args.report_out):
        print(f"wrote {path}")
    return 0


def _existing_config(out: str) -> CampaignConfig:
    config = read_config(out)
    if config is None:
        raise InvalidArgumentError(f"{out} is not a campaign folder (no {CONFIG_FILE}); start one with campaign run")
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point.

    :param argv: Arguments (default: ``sys.argv[1:]``)
    :return: Exit status: 0 on success or a stop by signal, 1 if a run crashed, 2 on bad input
    """
    args = make_parser().parse_args(argv)
    handler = {"run": cmd_run, "status": cmd_status, "commands": cmd_commands, "report": cmd_report, "combine": cmd_combine}[
        args.command
    ]
    try:
        return handler(args)
    except (PaperDQNError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
