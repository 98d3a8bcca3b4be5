"""
The files of one campaign run, and what they say: its checkpoints, evaluations, logs and state.

A run (one game, one seed) lives in ``OUT/runs/<EnvId>_seed<S>/``::

    paper_dqn/<EnvId>_<n>/     rl-zoo3's run folder of segment n (each resume writes the next one): config.yml,
                               args.yml, 0.monitor.csv, the checkpoints rl_model_<steps>_steps.zip (with the replay
                               buffer) and model_<steps>_steps.zip (the evaluated weights, without it)
    segments/<k>.log           stdout and stderr of the k-th rl_zoo3.train process
    failed.json                the last crash: exit status and log tail (removed when the run starts again)
    segment.pid                the process id of the running segment (removed when it ends)
    .lock                      held (flock) by the campaign process that owns the run, and by its segment

and its paper-protocol evaluations in ``OUT/evals/<EnvId>_seed<S>/<steps>.json``.
"""

import fcntl
import json
import os
import pathlib
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sb3_dqn_paper.tools.campaign.config import CampaignConfig, run_name

#: File name prefix of the checkpoints ``rl_zoo3.train --save-freq`` writes (with ``--algo paper_dqn``).
CHECKPOINT_PREFIX = "rl_model"
#: File name prefix of the evaluated models (weights without the replay buffer) the campaign keeps.
MODEL_PREFIX = "model"
_CHECKPOINT = re.compile(rf"^{CHECKPOINT_PREFIX}_(\d+)_steps\.zip$")
_MODEL = re.compile(rf"^{MODEL_PREFIX}_(\d+)_steps\.zip$")
_SEGMENT_FOLDER = re.compile(r"^(.+)_(\d+)$")
_LOG_VALUE = re.compile(
    r"^\|\s+(total_timesteps|time_elapsed|fps|exploration_rate|ep_rew_mean)\s+\|\s+(\S+)\s+\|", re.MULTILINE
)


@dataclass(frozen=True)
class Run:
    """
    One (game, seed) of a campaign and its folders.

    :param env_id: Gymnasium id
    :param seed: Seed of the run's first segment (resumed segments restore the saved random states instead)
    :param folder: ``OUT/runs/<name>``
    :param evals: ``OUT/evals/<name>``
    """

    env_id: str
    seed: int
    folder: pathlib.Path
    evals: pathlib.Path

    @property
    def name(self) -> str:
        """The run's folder name."""
        return self.folder.name

    @property
    def zoo_folder(self) -> pathlib.Path:
        """rl-zoo3's ``-f`` folder of the run: its segments are ``paper_dqn/<EnvId>_<n>`` in it."""
        return self.folder

    def segment_folders(self) -> list[pathlib.Path]:
        """:return: rl-zoo3's run folders of this run, oldest first"""
        algo_folder = self.folder / "paper_dqn"
        if not algo_folder.is_dir():
            return []
        env_name = self.env_id.replace("/", "-")
        found = []
        for path in algo_folder.iterdir():
            match = _SEGMENT_FOLDER.match(path.name)
            if path.is_dir() and match and match.group(1) == env_name:
                found.append((int(match.group(2)), path))
        return [path for _, path in sorted(found)]

    def _files(self, pattern: re.Pattern) -> list[tuple[int, pathlib.Path]]:
        found = []
        for folder in self.segment_folders():
            for path in folder.iterdir():
                match = pattern.match(path.name)
                if match:
                    found.append((int(match.group(1)), path))
        return sorted(found)

    def checkpoints(self) -> list[tuple[int, pathlib.Path]]:
        """:return: ``(agent steps, path)`` of every checkpoint of every segment, fewest steps first"""
        return self._files(_CHECKPOINT)

    def models(self) -> list[tuple[int, pathlib.Path]]:
        """:return: ``(agent steps, path)`` of every evaluated model the campaign kept, fewest steps first"""
        return self._files(_MODEL)

    def evaluation_path(self, steps: int) -> pathlib.Path:
        """:return: Where the paper-protocol evaluation of the checkpoint at ``steps`` is written"""
        return self.evals / f"{steps}.json"

    def evaluations(self) -> list[tuple[int, pathlib.Path]]:
        """:return: ``(agent steps, path)`` of every evaluation file, fewest steps first"""
        if not self.evals.is_dir():
            return []
        found = [(int(path.stem), path) for path in self.evals.iterdir() if re.fullmatch(r"\d+\.json", path.name)]
        return sorted(found)

    def segment_logs(self) -> list[pathlib.Path]:
        """:return: The logs of the run's ``rl_zoo3.train`` processes, oldest first"""
        folder = self.folder / "segments"
        if not folder.is_dir():
            return []
        return sorted(path for path in folder.iterdir() if re.fullmatch(r"\d+\.log", path.name))

    def new_segment_log(self) -> pathlib.Path:
        """:return: The log file of the next segment (not created)"""
        logs = self.segment_logs()
        number = int(logs[-1].stem) + 1 if logs else 1
        return self.folder / "segments" / f"{number:03d}.log"

    @property
    def pid_file(self) -> pathlib.Path:
        """The process id of the running segment."""
        return self.folder / "segment.pid"

    def segment_running(self) -> bool:
        """:return: Whether the segment named in ``segment.pid`` is alive (a live process with this run in its command)"""
        try:
            pid = int(self.pid_file.read_text())
            command = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return False
        return str(self.folder).encode() in command

    @property
    def failure_file(self) -> pathlib.Path:
        """The record of the run's last crash."""
        return self.folder / "failed.json"

    def failure(self) -> dict[str, Any] | None:
        """:return: The record of the last crash, if the run has crashed since it last started"""
        try:
            return json.loads(self.failure_file.read_text())
        except (OSError, ValueError):
            return None


def campaign_runs(out: str | os.PathLike, config: CampaignConfig) -> list[Run]:
    """
    :param out: The campaign folder
    :param config: Its configuration
    :return: Every run of the campaign, in the configuration's order (games first, then seeds)
    """
    out = pathlib.Path(out).absolute()
    return [
        Run(game, seed, out / "runs" / run_name(game, seed), out / "evals" / run_name(game, seed))
        for game in config.games
        for seed in config.seeds
    ]


class RunLock:
    """
    An exclusive ``flock`` on a run's ``.lock`` file: held by the ``campaign run`` process that owns the run for as
    long as it lives, and shared with each of the run's segments (the segment inherits the descriptor), so that two
    campaign processes (on one machine, or on several sharing the folder) never run it at once, and a segment still
    writing its last checkpoint after its campaign was killed keeps the run locked until it exits.

    :param run: The run
    """

    def __init__(self, run: Run) -> None:
        self.path = run.folder / ".lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """:return: Whether the lock was taken (``False``: another process holds it)"""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def fd(self) -> int | None:
        """The locked descriptor (to pass to a child process), ``None`` when not held."""
        return self._fd

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_elsewhere(self) -> bool:
        """:return: Whether another process holds the lock now (a live campaign process owns the run, or its segment runs)"""
        if self._fd is not None:
            return False
        if not self.acquire():
            return True
        self.release()
        return False


def _read_tail(path: pathlib.Path, size: int) -> str:
    """:return: The last ``size`` bytes of a log, decoded (the logs grow for hours: never read whole)"""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        file.seek(max(0, file.tell() - size))
        return file.read().decode(errors="replace")


def log_progress(path: pathlib.Path) -> dict[str, float]:
    """
    The last values SB3's logger printed to a segment log, and the speed between its last two prints.

    SB3's ``fps`` is the average since the segment started, which in a run's first segment includes the fast random
    steps before ``learning_starts``; ``recent_fps`` is the rate between the last two prints in the log's tail.

    :param path: A segment log
    :return: ``total_timesteps``, ``time_elapsed``, ``fps``, ``exploration_rate``, ``ep_rew_mean`` where printed, and
        ``recent_fps`` where two prints with different times are in the tail
    """
    try:
        tail = _read_tail(path, 16384)
    except OSError:
        return {}
    values: dict[str, float] = {}
    history: dict[str, list[float]] = {"total_timesteps": [], "time_elapsed": []}
    for key, value in _LOG_VALUE.findall(tail):
        try:
            values[key] = float(value)
        except ValueError:
            continue
        if key in history:
            history[key].append(values[key])
    steps, times = history["total_timesteps"], history["time_elapsed"]
    if len(steps) >= 2 and len(times) >= 2 and times[-1] > times[-2]:
        values["recent_fps"] = (steps[-1] - steps[-2]) / (times[-1] - times[-2])
    return values


def log_tail(path: pathlib.Path, lines: int = 20) -> str:
    """
    :param path: A segment log
    :param lines: How many lines
    :return: The last ``lines`` lines of the log; for an empty log, that it is empty and the free space on its disk
        (a process that fails on a full disk cannot write its error there)
    """
    try:
        text = _read_tail(path, 16384)
    except OSError as error:
        return f"(log {path} unreadable: {error})"
    if not text.strip():
        try:
            free = f"{shutil.disk_usage(path.parent).free / 1e6:,.1f} MB free on its disk"
        except OSError as error:
            free = f"free space unknown: {error}"
        return f"(log {path} is empty; {free}: a process that fails on a full disk cannot write its error)"
    return "\n".join(text.splitlines()[-lines:])


def segment_command(
    run: Run,
    config: CampaignConfig,
    stop_at: int,
    checkpoint: pathlib.Path | None,
    python: str = sys.executable,
) -> list[str]:
    """
    The ``rl_zoo3.train`` command of a run's next segment: the user's command line, nothing hidden.

    :param run: The run
    :param config: The campaign's configuration
    :param stop_at: The agent steps the segment ends at (``-n``: the run's total when resuming)
    :param checkpoint: The checkpoint to resume exactly (``-i``), ``None`` for the run's first segment
    :param python: The interpreter
    :return: The argument list
    """
    command = [
        python,
        "-m",
        "rl_zoo3.train",
        "--algo",
        "paper_dqn",
        "--env",
        run.env_id,
        "--seed",
        str(run.seed),
        "-n",
        str(stop_at),
        "-f",
        str(run.zoo_folder),
        "--save-freq",
        str(config.save_freq),
        "--save-replay-buffer",
        "--eval-freq",
        "-1",
        "--num-threads",
        "1",
        "--device",
        config.device,
    ]
    if checkpoint is not None:
        command += ["-i", str(checkpoint)]
    hyperparams = config.zoo_hyperparams(run.env_id)
    if hyperparams:
        command += ["--hyperparams", *hyperparams]
    return command


def evaluation_points(config: CampaignConfig, target: int) -> list[int]:
    """
    :param config: The campaign's configuration
    :param target: The run's total agent steps
    :return: The agent steps whose checkpoint is evaluated: every ``eval_every``, every milestone and the end
    """
    points = set(range(config.eval_every, target + 1, config.eval_every))
    points.update(milestone for milestone in config.milestones if milestone <= target)
    points.add(target)
    return sorted(points)


def run_stops(config: CampaignConfig, target: int) -> list[int]:
    """
    :param config: The campaign's configuration
    :param target: The run's total agent steps
    :return: Where its segments end when nothing stops them: each milestone below the target, then the target
    """
    return [milestone for milestone in config.milestones if milestone < target] + [target]


def next_stop(steps: int, stops: Sequence[int]) -> int | None:
    """
    :param steps: Agent steps a run has done
    :param stops: Its :func:`run_stops`
    :return: The first stop beyond ``steps``, or ``None`` when the run is done
    """
    return next((stop for stop in stops if stop > steps), None)
