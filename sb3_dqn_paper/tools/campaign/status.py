"""
``campaign status``: one row per run (agent steps, speed, ETA, epsilon, last evaluation, state), read from the
campaign's files alone, so it works while ``campaign run`` is running, after it stopped, and on another machine.
"""

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

from sb3_dqn_paper.tools.campaign.config import CampaignConfig
from sb3_dqn_paper.tools.campaign.runs import Run, RunLock, campaign_runs, log_progress, next_stop, run_stops


@dataclass
class RunStatus:
    """
    What the files of one run say now.

    :param run: The run
    :param target: Its total agent steps
    :param steps: Agent steps done (the running segment's last log line, else the newest checkpoint)
    :param steps_per_second: The running segment's agent steps per second between its last two log prints (SB3's
        ``fps``, the average since the segment started, where there is only one), if running
    :param epsilon: Exploration rate at ``steps``
    :param last_evaluation: ``(agent steps, average score, games)`` of the newest evaluation
    :param state: ``running``, ``waiting`` (owned by a live campaign process, not running yet), ``stopped``, ``done``,
        ``failed`` or ``not started``
    :param stop: Where its current segment ends when nothing stops it: the next milestone, else the target (default:
        the target)
    """

    run: Run
    target: int
    steps: int
    steps_per_second: float | None
    epsilon: float | None
    last_evaluation: tuple[int, float | None, int] | None
    state: str
    stop: int | None = None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds to the end of the running segment (:attr:`stop`) at the current speed, if running."""
        if not self.steps_per_second:
            return None
        return max(0, (self.stop or self.target) - self.steps) / self.steps_per_second


def _epsilon(steps: int, hyperparams: dict) -> float:
    """
    The run's epsilon at ``steps`` without building a model: PaperDQN's schedule, with PaperDQN's defaults for the
    settings the run's ``config.yml`` leaves out.
    """
    from sb3_dqn_paper.exploration import PAPER_EXPLORATION_STEPS, PAPER_FINAL_EPS, PAPER_INITIAL_EPS, linear_epsilon

    return linear_epsilon(
        steps,
        float(hyperparams.get("exploration_initial_eps", PAPER_INITIAL_EPS)),
        float(hyperparams.get("exploration_final_eps", PAPER_FINAL_EPS)),
        int(hyperparams.get("exploration_steps", PAPER_EXPLORATION_STEPS)),
    )


def _run_hyperparams(run: Run) -> dict:
    from sb3_dqn_paper.tools.run_folder import load_run_file

    for folder in reversed(run.segment_folders()):
        path = folder / run.env_id.replace("/", "-") / "config.yml"
        if path.is_file():
            try:
                return dict(load_run_file(path))
            except Exception:  # a damaged config.yml only costs the epsilon column
                return {}
    return {}


def run_status(run: Run, target: int, running_here: bool = False, stops: Sequence[int] = ()) -> RunStatus:
    """
    :param run: The run
    :param target: Its total agent steps
    :param running_here: Whether this process runs it (its lock cannot tell then)
    :param stops: Where its segments end when nothing stops them (``run_stops``; default: only at the target)
    :return: The run's status
    """
    checkpoints = run.checkpoints()
    steps = checkpoints[-1][0] if checkpoints else 0
    owned = running_here or RunLock(run).held_elsewhere()
    running = running_here or (owned and run.segment_running())
    speed = epsilon = None
    logs = run.segment_logs()
    if running and logs:
        progress = log_progress(logs[-1])
        steps = max(steps, int(progress.get("total_timesteps", 0)))
        speed = progress.get("recent_fps", progress.get("fps"))
        epsilon = progress.get("exploration_rate")
    if epsilon is None:
        epsilon = _epsilon(steps, _run_hyperparams(run))
    evaluations = run.evaluations()
    last = None
    if evaluations:
        done, path = evaluations[-1]
        try:
            data = json.loads(path.read_text())
            mean = None if data.get("unclipped") is None else float(data["unclipped"]["mean"])
            last = (done, mean, int(data.get("n_episodes", 0)))
        except (OSError, ValueError, KeyError, TypeError):
            last = (done, None, 0)
    if running:
        state = "running"
    elif steps >= target:
        state = "done"
    elif run.failure() is not None:
        state = "failed"
    elif owned:
        state = "waiting"  # owned by a live campaign process, waiting for a free job or a milestone
    elif steps == 0 and not logs:
        state = "not started"
    else:
        state = "stopped"
    return RunStatus(run, target, steps, speed, epsilon, last, state, next_stop(steps, stops or [target]))


def campaign_status(out: str | os.PathLike, config: CampaignConfig, running_here: set[str] = frozenset()) -> list[RunStatus]:
    """
    :param out: The campaign folder
    :param config: Its configuration
    :param running_here: Names of the runs this process runs
    :return: The status of every run
    """
    statuses = []
    for run in campaign_runs(out, config):
        target = config.targets[run.name]
        statuses.append(run_status(run, target, run.name in running_here, run_stops(config, target)))
    return statuses


def format_duration(seconds: float | None) -> str:
    """:return: ``seconds`` as ``"7 h 24 min"`` (``"12 min"`` under an hour, ``"-"`` for ``None``)"""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def campaign_summary(statuses: list[RunStatus]) -> str:
    """
    The whole campaign in one line: agent steps done of all targets, and the wall time left at the speed of the
    segments running now (the sum of their steps/s, as if that many runs kept running side by side to the end).

    :param statuses: The runs' statuses
    :return: The line (no time left is given while no segment is running, nor while a running segment has no speed
        yet, as when it is still loading its checkpoint: the sum would count it as standing still)
    """
    done = sum(min(status.steps, status.target) for status in statuses)
    total = sum(status.target for status in statuses)
    line = f"all runs: {done:,} of {total:,} agent steps ({100 * done / total:.1f} %)" if total else "no runs"
    running = [status for status in statuses if status.state == "running"]
    untimed = sum(1 for status in running if not status.steps_per_second)
    if untimed:
        return line + f"; {untimed} of {len(running)} running segments not timed yet (starting), so no wall time left is given"
    speed = sum(status.steps_per_second or 0.0 for status in running)
    if speed > 0 and done < total:
        left = format_duration((total - done) / speed)
        line += f"; at the running segments' {speed:.1f} steps/s together, {left} of wall time left"
    return line


def _eta(status: RunStatus) -> str:
    """The ETA column: the time to the segment's end, and that end where it is a milestone before the target."""
    eta = format_duration(status.eta_seconds)
    if status.eta_seconds is not None and status.stop is not None and status.stop < status.target:
        eta += f" to {status.stop:,}"
    return eta


def status_table(statuses: list[RunStatus], title: str | None = None) -> Table:
    """
    :param statuses: The runs' statuses
    :param title: The table's title
    :return: A rich table, one row per run
    """
    table = Table(title=title or f"campaign at {time.strftime('%Y-%m-%d %H:%M:%S')}", caption=campaign_summary(statuses))
    for column, justify in (
        ("run", "left"),
        ("agent steps", "right"),
        ("target", "right"),
        ("steps/s", "right"),
        ("ETA", "right"),
        ("epsilon", "right"),
        ("last evaluation", "right"),
        ("state", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for status in statuses:
        if status.last_evaluation is None:
            evaluation = "-"
        else:
            done, mean, games = status.last_evaluation
            score = "no game" if mean is None else f"{mean:.2f} ({games} games)"
            evaluation = f"{score} at {done:,}"
        table.add_row(
            status.run.name,
            f"{status.steps:,}",
            f"{status.target:,}",
            "-" if status.steps_per_second is None else f"{status.steps_per_second:.1f}",
            _eta(status),
            "-" if status.epsilon is None else f"{status.epsilon:.3f}",
            evaluation,
            status.state,
        )
    return table
