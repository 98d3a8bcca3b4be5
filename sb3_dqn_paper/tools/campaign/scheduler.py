"""
``campaign run``: the runs of a campaign as ``rl_zoo3.train`` processes, J at a time, milestone by milestone.

Each run goes on in segments. A segment is one process of the user's own command line
(:func:`~sb3_dqn_paper.tools.campaign.runs.segment_command`); the first starts the run with its seed, every later one
resumes it exactly from its newest checkpoint that passes the CRC check (``-i``). A segment ends at the next
milestone (so that every run reaches milestone k before any run goes past it), at the run's total, or when the
campaign is stopped: SIGTERM or SIGINT is passed on to every segment as SIGTERM, each finishes its update, writes a
checkpoint and exits, and then the campaign exits 0. A segment that crashes is reported with its log tail; the
other runs go on.

Beside the runs, the campaign evaluates the checkpoint at every ``eval_every`` steps, every milestone and the end
(in another process, one at a time), keeps its weights as ``model_<steps>_steps.zip``, and deletes the
checkpoints (with their replay buffers) that neither a resume nor an evaluation needs any more.
"""

import ctypes
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.tools.campaign.config import CampaignConfig
from sb3_dqn_paper.tools.campaign.provenance import end_record, machine_and_software, start_record
from sb3_dqn_paper.tools.campaign.runs import (
    MODEL_PREFIX,
    Run,
    RunLock,
    campaign_runs,
    evaluation_points,
    log_tail,
    next_stop,
    run_stops,
    segment_command,
)

#: Seconds between two looks at the runs' files (new checkpoints to evaluate, old ones to delete).
HOUSEKEEPING_INTERVAL = 30.0
#: Seconds between two polls of the processes.
POLL_INTERVAL = 1.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before ``exec``: get SIGTERM when the campaign process dies, so no run is left orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the runs outlive a campaign that is killed
        pass


class CheckpointVerifier:
    """
    :func:`~sb3_dqn_paper.checkpoint.verify_checkpoint` with a cache: a checkpoint is read whole once, not at every
    look, and again only if its size or modification time change.
    """

    def __init__(self) -> None:
        self._results: dict[pathlib.Path, tuple[int, int, bool]] = {}

    def sound(self, path: pathlib.Path) -> bool:
        """:return: Whether every entry of the checkpoint passes its CRC check"""
        from sb3_dqn_paper.checkpoint import verify_checkpoint
        from sb3_dqn_paper.errors import CheckpointError

        try:
            stat = path.stat()
        except OSError:
            return False
        cached = self._results.get(path)
        if cached is not None and cached[:2] == (stat.st_size, stat.st_mtime_ns):
            return cached[2]
        try:
            verify_checkpoint(path)
            ok = True
        except (CheckpointError, OSError):
            ok = False
        self._results[path] = (stat.st_size, stat.st_mtime_ns, ok)
        return ok

    def newest_sound(self, run: Run, count: int = 1) -> list[tuple[int, pathlib.Path]]:
        """:return: The ``count`` newest sound checkpoints of the run, newest first"""
        found = []
        for steps, path in reversed(run.checkpoints()):
            if self.sound(path):
                found.append((steps, path))
                if len(found) == count:
                    break
        return found


def run_steps(run: Run, verifier: CheckpointVerifier) -> int:
    """:return: The agent steps of the run's newest sound checkpoint (0 before its first)"""
    newest = verifier.newest_sound(run)
    return newest[0][0] if newest else 0


@dataclass
class Segment:
    """A running ``rl_zoo3.train`` process of a run."""

    run: Run
    process: subprocess.Popen
    log: IO[bytes]
    stop_at: int
    started: float = field(default_factory=time.time)


@dataclass
class Evaluation:
    """A running evaluation process of a checkpoint."""

    run: Run
    steps: int
    checkpoint: pathlib.Path
    process: subprocess.Popen


class Scheduler:
    """
    Runs a campaign until every run is done or it is stopped.

    :param out: The campaign folder
    :param config: Its configuration (already checked and saved)
    :param jobs: Runs at a time
    :param keep_checkpoints: Sound checkpoints kept per run (the newest ones); the others are deleted once evaluated
    :param report: Called with the scheduler at every poll of the processes, about once a second, and at the end (the
        status table; it decides itself whether to build and show one)
    :param say: Prints a line for the user
    :param selected: Names of the runs to run (default: all); milestones hold among these
    """

    def __init__(
        self,
        out: str | os.PathLike,
        config: CampaignConfig,
        jobs: int,
        keep_checkpoints: int = 2,
        report: Callable[["Scheduler"], None] | None = None,
        say: Callable[[str], None] = print,
        selected: set[str] | None = None,
    ) -> None:
        self.out = pathlib.Path(out).absolute()
        self.config = config
        self.jobs = jobs
        self.keep_checkpoints = keep_checkpoints
        self.runs = [run for run in campaign_runs(self.out, config) if selected is None or run.name in selected]
        #: The locks of the runs this process owns, taken in :meth:`run`
        self.locks: dict[str, RunLock] = {}
        #: Runs owned by another live ``campaign run`` process, left alone
        self.elsewhere: list[str] = []
        self.verifier = CheckpointVerifier()
        self.segments: dict[str, Segment] = {}
        self.evaluation: Evaluation | None = None
        self.failed: dict[str, dict[str, Any]] = {}
        self.failed_evaluations: set[tuple[str, int]] = set()
        self.stop_signal: int | None = None
        self._report = report or (lambda scheduler: None)
        self._say = say
        self._last_housekeeping = 0.0

    # --- signals ------------------------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        first = self.stop_signal is None
        self.stop_signal = signum
        for segment in self.segments.values():
            self._signal(segment.process, signal.SIGTERM)
        if first:
            self._say(f"{signal.Signals(signum).name}: stopping every run at a checkpoint (this takes a moment)")

    @staticmethod
    def _signal(process: subprocess.Popen, signum: int) -> None:
        if process.poll() is None:
            try:
                process.send_signal(signum)
            except ProcessLookupError:
                pass

    # --- the loop -----------------------------------------------------------------------------------------------
    def run(self) -> int:
        """
        Run the campaign.

        :return: 0 when every run is done or the campaign was stopped by a signal, 1 if a run crashed
        """
        self._take_locks()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.housekeeping(force=True)
            while True:
                if self.stop_signal is None:
                    self._start_segments()
                self._report(self)
                if not self.segments and (self.stop_signal is not None or not self._startable()):
                    break
                self._wait()
            self._finish_evaluation(wait=self.stop_signal is None)
            if self.stop_signal is None:
                while self._pending_evaluations():
                    self._start_evaluation()
                    self._finish_evaluation(wait=True)
            self.housekeeping(force=True, evaluate=False)
            self._report(self)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for lock in self.locks.values():
                lock.release()
        return 1 if self.failed or self.failed_evaluations else 0

    def _take_locks(self) -> None:
        """Own every run whose lock is free; the others are left to the process that holds them."""
        for run in list(self.runs):
            lock = RunLock(run)
            if lock.acquire():
                self.locks[run.name] = lock
            else:
                self.elsewhere.append(run.name)
                self.runs.remove(run)
        if self.elsewhere:
            self._say(
                f"left alone, owned by another campaign process (or a segment still finishing): {', '.join(self.elsewhere)}"
            )

    def _wait(self) -> None:
        """Sleep until a process ends or it is time for housekeeping, then handle what happened."""
        deadline = time.time() + POLL_INTERVAL
        while time.time() < deadline:
            if any(segment.process.poll() is not None for segment in self.segments.values()):
                break
            time.sleep(0.1)
        for name, segment in list(self.segments.items()):
            if segment.process.poll() is not None:
                self._segment_ended(name, segment)
        self._finish_evaluation(wait=False)
        if self.stop_signal is None:
            self.housekeeping()

    # --- which run goes next ------------------------------------------------------------------------------------
    def run_target(self, run: Run) -> int:
        """:return: The total agent steps of the run"""
        return self.config.targets[run.name]

    def _active(self) -> list[tuple[Run, int, int]]:
        """:return: ``(run, steps done, next stop)`` of every run that has steps left and has not crashed here"""
        active = []
        for run in self.runs:
            if run.name in self.failed:
                continue
            steps = run_steps(run, self.verifier)
            stop = next_stop(steps, run_stops(self.config, self.run_target(run)))
            if stop is not None:
                active.append((run, steps, stop))
        return active

    def _startable(self) -> list[tuple[Run, int]]:
        """
        :return: The runs that may start a segment now, with the step it ends at: those whose next stop is the
            campaign's gate (the lowest next stop of all runs with steps left), not running, not locked elsewhere
        """
        active = self._active()
        if not active:
            return []
        gate = min(stop for _, _, stop in active)
        return [(run, stop) for run, _, stop in active if stop == gate and run.name not in self.segments]

    def _start_segments(self) -> None:
        for run, stop in self._startable():
            if len(self.segments) >= self.jobs:
                return
            self._start_segment(run, stop)

    def _start_segment(self, run: Run, stop_at: int) -> None:
        lock_fd = self.locks[run.name].fd
        assert lock_fd is not None
        newest = self.verifier.newest_sound(run)
        checkpoint = newest[0][1] if newest else None
        command = segment_command(run, self.config, stop_at, checkpoint)
        log_path = run.new_segment_log()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
        log.write(("$ " + " ".join(_quote(part) for part in command) + "\n").encode())
        log.flush()
        start_record(log_path, command, newest[0][0] if newest else 0, stop_at, machine_and_software())
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=run.folder,
            env=environment,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the campaign only, which passes on SIGTERM
            preexec_fn=_die_with_parent,
            pass_fds=(lock_fd,),  # the segment holds the run's lock too, until it exits
        )
        atomic_write_files({run.pid_file: f"{process.pid}\n".encode()})
        run.failure_file.unlink(missing_ok=True)
        self.segments[run.name] = Segment(run, process, log, stop_at)
        origin = f"resuming {checkpoint.name}" if checkpoint is not None else f"new run, seed {run.seed}"
        self._say(f"{run.name}: segment to {stop_at:,} agent steps ({origin}); log {log_path}")

    def _segment_ended(self, name: str, segment: Segment) -> None:
        del self.segments[name]
        segment.log.close()
        code = segment.process.returncode
        run = segment.run
        steps = run_steps(run, self.verifier)
        run.pid_file.unlink(missing_ok=True)
        end_record(pathlib.Path(segment.log.name), steps, code)
        self._remove_zoo_replay_buffers(run)
        # SIGTERM before rl-zoo3 got to learn() (while it builds the env and loads the checkpoint) ends the process at
        # once, with nothing lost: it had not taken a step since its checkpoint
        stopped_early = self.stop_signal is not None and code == -signal.SIGTERM
        if (code == 0 and (steps >= segment.stop_at or self.stop_signal is not None)) or stopped_early:
            self._say(f"{name}: stopped at {steps:,} agent steps" + ("" if steps < segment.stop_at else " (segment done)"))
            return
        reason = f"exit status {code}" if code != 0 else f"exited 0 at {steps:,} agent steps, before {segment.stop_at:,}"
        if self.stop_signal is not None and code != 0:
            reason += " while stopping"
        tail = log_tail(pathlib.Path(segment.log.name))
        record = {"exit_status": code, "reason": reason, "agent_steps": steps, "time": time.time(), "log": segment.log.name}
        record["log_tail"] = tail
        self.failed[name] = record
        atomic_write_files({run.failure_file: (json.dumps(record, indent=2) + "\n").encode()})
        self._say(f"{name}: FAILED ({reason}); the other runs go on. Last lines of {segment.log.name}:\n{tail}")

    # --- evaluations and disk -----------------------------------------------------------------------------------
    def _pending_evaluations(self) -> list[tuple[Run, int, pathlib.Path]]:
        """:return: Checkpoints at an evaluation point that have no evaluation yet, fewest steps first"""
        pending = []
        for run in self.runs:
            points = set(evaluation_points(self.config, self.run_target(run)))
            for steps, path in run.checkpoints():
                if (run.name, steps) in self.failed_evaluations or steps not in points:
                    continue
                if not run.evaluation_path(steps).is_file() and self.verifier.sound(path):
                    pending.append((steps, run.name, run, path))
        return [(run, steps, path) for steps, _, run, path in sorted(pending, key=lambda item: item[:2])]

    def _start_evaluation(self) -> None:
        if self.evaluation is not None:
            return
        pending = self._pending_evaluations()
        if not pending:
            return
        run, steps, checkpoint = pending[0]
        model_out = checkpoint.parent / f"{MODEL_PREFIX}_{steps}_steps.zip"
        command = [
            sys.executable,
            "-m",
            "sb3_dqn_paper.tools.campaign.evaluation",
            str(checkpoint),
            "--env",
            run.env_id,
            "--model-out",
            str(model_out),
            "--out",
            str(run.evaluation_path(steps)),
            "--steps",
            str(self.config.eval_steps),
            "--device",
            "cpu" if self.config.device == "auto" else self.config.device,
        ]
        log_path = run.folder / "segments" / f"eval_{steps}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.evaluation = Evaluation(run, steps, checkpoint, process)
        self._say(f"{run.name}: evaluating the checkpoint at {steps:,} agent steps ({self.config.eval_steps:,} steps)")

    def _finish_evaluation(self, wait: bool) -> None:
        evaluation = self.evaluation
        if evaluation is None:
            return
        if self.stop_signal is not None and not wait:
            self._signal(evaluation.process, signal.SIGTERM)  # its file is written atomically: redone next time
        if wait or self.stop_signal is not None:
            evaluation.process.wait()
        if evaluation.process.poll() is None:
            return
        self.evaluation = None
        path = evaluation.run.evaluation_path(evaluation.steps)
        if path.is_file():
            data = json.loads(path.read_text())
            summary = data.get("unclipped")
            score = "no game completed" if summary is None else f"average {summary['mean']:.2f} ({data['n_episodes']} games)"
            self._say(f"{evaluation.run.name}: evaluation at {evaluation.steps:,} agent steps: {score}")
        elif self.stop_signal is None:
            log = evaluation.run.folder / "segments" / f"eval_{evaluation.steps}.log"
            failure = f"FAILED (exit status {evaluation.process.returncode})"
            self._say(f"{evaluation.run.name}: evaluation at {evaluation.steps:,} {failure}:\n{log_tail(log)}")
            self.failed_evaluations.add((evaluation.run.name, evaluation.steps))

    def housekeeping(self, force: bool = False, evaluate: bool = True) -> None:
        """
        Start the next pending evaluation and delete the checkpoints no longer needed (at most every
        :data:`HOUSEKEEPING_INTERVAL` seconds unless ``force``).

        :param force: Do it now
        :param evaluate: Start an evaluation if one is pending
        """
        if not force and time.time() - self._last_housekeeping < HOUSEKEEPING_INTERVAL:
            return
        self._last_housekeeping = time.time()
        if evaluate and self.stop_signal is None:
            self._start_evaluation()
        for run in self.runs:
            self._prune(run)

    def _prune(self, run: Run) -> None:
        """Delete the run's checkpoints that are neither among the newest sound ones nor waiting for evaluation."""
        sound = self.verifier.newest_sound(run, self.keep_checkpoints)
        if len(sound) < self.keep_checkpoints and run.name in self.segments:
            return  # a running segment's newest file may be a damaged one: delete nothing until there are enough
        keep = {path for _, path in sound}
        newest = sound[0][0] if sound else 0
        points = set(evaluation_points(self.config, self.run_target(run)))
        evaluating = self.evaluation.checkpoint if self.evaluation is not None else None
        for steps, path in run.checkpoints():
            if path in keep or path == evaluating:
                continue
            if steps > newest:
                continue  # newer than the newest sound one: damaged, or being replaced; left for the user to see
            if steps in points and not run.evaluation_path(steps).is_file():
                continue  # an evaluation point not yet (or not successfully) evaluated: kept
            path.unlink(missing_ok=True)

    def _remove_zoo_replay_buffers(self, run: Run) -> None:
        """
        rl-zoo3's ``--save-replay-buffer`` also writes ``replay_buffer.pkl`` when a segment ends: the checkpoint
        written at the same step holds the same buffer, and a resume reads that one, so the copy is deleted.
        """
        for folder in run.segment_folders():
            (folder / "replay_buffer.pkl").unlink(missing_ok=True)


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
