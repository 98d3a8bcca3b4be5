"""
Learning curves and a results table against the paper's Table 1, from training logs and evaluation files.

Inputs, found under each path given (folders are searched recursively):

- SB3 ``Monitor`` logs (``*.monitor.csv``): rl-zoo3 writes them as ``logs/<algo>/<EnvId>_<run>/0.monitor.csv``, SB3's
  ``make_vec_env(monitor_dir=...)`` as ``<dir>/<rank>.monitor.csv``. All the Monitor files of one folder are one
  run (one seed; several files when it used several envs) and are merged with SB3's ``load_results``. The env id
  comes from the Monitor header, else from an rl-zoo3 folder name. An rl-zoo3 run resumed with
  ``-i rl_model_<N>_steps.zip`` (a new folder) is joined to the run it continues, its games shifted by ``N`` agent
  steps.
- Evaluation results written by ``python -m sb3_dqn_paper.evaluate ... --out FILE.json``.

Outputs, in ``--out``: one PNG per env id (``<EnvId>.png``) with the training score against agent steps, smoothed
over games, as the mean over runs and the min-max spread between them, the evaluation results as points, the
paper's DQN average and Random rows as horizontal lines, and the same-budget references up to the run's budget
(Dopamine's mean training return per 250k-step iteration, CleanRL's training return at 1M and 2M steps); and
``results.md``, the Markdown tables of the evaluations and of the training logs against Table 1 (also printed).

Agent steps are read off the Monitor: its ``l`` counts the steps of the env below SB3's ``AtariWrapper``, i.e.
emulator frames for the ``NoFrameskip`` ids, so agent steps = frames / k with the paper's frame skip ``k``
(``--frame-skip`` overrides it). The no-ops at reset are counted too (at most 30 frames per game), so the
agent steps are slightly overestimated.

Reuses SB3's ``load_results`` / ``ts2xy``; matplotlib draws with the Agg backend (no display needed).
"""

import argparse
import glob
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.errors import InvalidArgumentError, MissingFileError, PaperDQNError
from sb3_dqn_paper.evaluate import RESULT_FORMAT_VERSION, RESULT_KIND, format_score
from sb3_dqn_paper.table1 import (
    CLEANRL_CURVE_POINTS,
    DOPAMINE_ITERATION_STEPS,
    DOPAMINE_PER_ITERATION,
    PaperGame,
    paper_game,
)

#: Smoothing window (in games) when none is given: a twentieth of the run's games, between 1 and 100.
MAX_AUTO_WINDOW = 100
#: Points of the common agent-step grid on which runs are averaged.
GRID_POINTS = 200
#: Name of the Markdown file written to ``--out``.
TABLE_FILE = "results.md"

# rl-zoo3 run folders: "<EnvId>_<run id>", optionally followed by "_<uuid>"
# Checkpoints of --save-freq: "<prefix>_<agent steps>_steps.zip"
_CHECKPOINT_NAME = re.compile(r"_(?P<steps>\d+)_steps\.zip$")
_RL_ZOO_FOLDER = re.compile(r"^(?P<env>.+?)_\d+(?:_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?$")


@dataclass
class MonitorRun:
    """
    The completed training games of one run (one folder of Monitor files).

    :param env_id: Gymnasium id of the run's env
    :param folder: Folder of the Monitor files
    :param agent_steps: Agent steps at the end of each game (cumulative, over all the run's envs)
    :param scores: Unclipped score of each game, in the order the games ended
    :param segments: For a run resumed from checkpoints: the folders it is joined from, oldest first
    """

    env_id: str
    folder: str
    agent_steps: np.ndarray
    scores: np.ndarray
    segments: tuple[str, ...] = ()

    @property
    def budget(self) -> int:
        """Agent steps covered by the run's completed games."""
        return int(self.agent_steps[-1]) if len(self.agent_steps) else 0


def monitor_steps_per_agent_step(env_id: str) -> int:
    """
    How many Monitor steps make one agent step, by default.

    For Atari ids without built-in frame skip, the Monitor sits below ``AtariWrapper`` and counts frames: the
    paper's ``k`` (4, or 3 for Space Invaders). Anything else (ids with built-in frame skip, non-Atari envs): 1.

    :param env_id: Gymnasium id
    :return: Monitor steps per agent step
    """
    import gymnasium as gym

    from sb3_dqn_paper.atari import paper_frame_skip, register_atari_envs

    register_atari_envs()
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return 1
    if "ale_py" in str(spec.entry_point) and spec.kwargs.get("frameskip", 1) == 1:
        return paper_frame_skip(env_id)
    return 1


def _read_monitor_env_id(path: str) -> str | None:
    """:return: The ``env_id`` in the header of a Monitor file, if it names one"""
    with open(path) as file:
        first_line = file.readline()
    if not first_line.startswith("#"):
        raise InvalidArgumentError(f"{path} is not an SB3 Monitor file: its first line is not a '#{{...}}' header")
    try:
        header = json.loads(first_line[1:])
    except json.JSONDecodeError as error:
        raise InvalidArgumentError(f"{path} has a damaged Monitor header: {error}") from error
    env_id = header.get("env_id")
    return None if env_id in (None, "None", "") else str(env_id)


def env_id_from_folder(folder: str) -> str | None:
    """
    The env id in an rl-zoo3 run folder name (``PongNoFrameskip-v4_1`` gives ``PongNoFrameskip-v4``).

    :param folder: Path of the folder
    :return: The env id, or ``None`` if the name does not have rl-zoo3's form
    """
    match = _RL_ZOO_FOLDER.match(os.path.basename(os.path.normpath(folder)))
    return None if match is None else match.group("env")


def load_monitor_run(folder: str, frame_skip: int | None = None) -> MonitorRun | None:
    """
    Read the Monitor files of one folder as one run.

    :param folder: A folder holding ``*.monitor.csv`` files
    :param frame_skip: Monitor steps per agent step; ``None`` for :func:`monitor_steps_per_agent_step`
    :return: The run, or ``None`` (with a warning) when no env id can be found
    :raises ValueError: for a damaged Monitor file
    """
    from stable_baselines3.common.monitor import get_monitor_files, load_results
    from stable_baselines3.common.results_plotter import X_TIMESTEPS, ts2xy

    files = sorted(get_monitor_files(folder))
    env_ids = {_read_monitor_env_id(path) for path in files} - {None}
    if len(env_ids) > 1:
        raise InvalidArgumentError(
            f"The Monitor files in {folder} come from different envs {sorted(env_ids)}; keep one run per folder"
        )
    env_id = env_ids.pop() if env_ids else env_id_from_folder(folder)
    if env_id is None:
        warnings.warn(f"Skipping {folder}: its Monitor files name no env id and the folder name is not '<EnvId>_<run>'")
        return None
    try:
        data_frame = load_results(folder)
    except (AssertionError, ValueError, KeyError) as error:
        raise InvalidArgumentError(f"The Monitor files in {folder} could not be read: {error!r}") from error
    if frame_skip is None:
        frame_skip = monitor_steps_per_agent_step(env_id)
    monitor_steps, scores = ts2xy(data_frame, X_TIMESTEPS)
    agent_steps = np.asarray(monitor_steps, dtype=np.float64) / frame_skip
    return MonitorRun(env_id, folder, agent_steps, np.asarray(scores, dtype=np.float64))


def resumed_from(folder: str, env_id: str) -> tuple[str, int] | None:
    """
    The run folder and agent step an rl-zoo3 run continues from, when it was started with ``-i CHECKPOINT``.

    rl-zoo3 records ``-i`` as ``trained_agent`` in ``<folder>/<EnvId>/args.yml``. A checkpoint written by
    ``--save-freq`` is named ``<prefix>_<agent steps>_steps.zip``; the agent step is read from the file's
    metadata when the file is still there, else from that name.

    :param folder: An rl-zoo3 run folder
    :param env_id: Its env id
    :return: ``(folder of the checkpoint, its agent step)``, or ``None`` for a run that did not resume a checkpoint
    """
    args_file = os.path.join(folder, env_id.replace("/", "-"), "args.yml")
    if not os.path.isfile(args_file):
        return None
    import yaml

    from sb3_dqn_paper.zoo.hyperparams import load_run_file

    try:
        args = load_run_file(args_file)
    except yaml.YAMLError as error:
        warnings.warn(f"{args_file} could not be read ({error}); {folder} is taken as a run of its own")
        return None
    trained_agent = args.get("trained_agent") if isinstance(args, dict) else None
    if not trained_agent:
        return None
    from sb3_dqn_paper.checkpoint import is_checkpoint, read_checkpoint_meta

    if os.path.isfile(trained_agent) and is_checkpoint(trained_agent):
        steps = int(read_checkpoint_meta(trained_agent)["num_timesteps"])
    else:
        match = _CHECKPOINT_NAME.search(os.path.basename(trained_agent))
        if match is None:
            return None
        steps = int(match.group("steps"))
    return os.path.normpath(os.path.dirname(trained_agent)), steps


def join_resumed_runs(runs: Sequence[MonitorRun]) -> list[MonitorRun]:
    """
    Join each rl-zoo3 run that resumed a checkpoint (``-i rl_model_<N>_steps.zip``) to the run it continues.

    A resume writes a new run folder whose Monitor restarts its step count: its games are shifted by the
    checkpoint's ``N`` agent steps and appended to the games of the checkpoint's run up to ``N`` (games after
    the checkpoint were not continued). The checkpoint's run is found at the path ``-i`` named, or, when the logs
    were copied or moved since, as the sibling folder of that name. Chains (a resume of a resume) are followed;
    the joined run keeps the newest folder's name and lists every folder in ``segments``.

    :param runs: Runs as read from their folders
    :return: The runs, resumed ones joined
    """
    by_folder = {os.path.normpath(run.folder): run for run in runs}
    parents = {}
    for folder, run in by_folder.items():
        origin = resumed_from(folder, run.env_id)
        if origin is None:
            continue
        # The checkpoint's folder as recorded, or, for a log tree copied or moved since, the sibling of that name
        sibling = os.path.join(os.path.dirname(folder), os.path.basename(origin[0]))
        parent = next((path for path in (origin[0], sibling) if path in by_folder and path != folder), None)
        if parent is not None:
            parents[folder] = (parent, origin[1])
    joined = []
    continued = {parent for parent, _ in parents.values()}
    for folder, run in by_folder.items():
        if folder in continued:
            continue
        # The chain from the newest folder back to the first run, each with the agent step it starts at
        chain = [(folder, 0)]
        while chain[-1][0] in parents:
            parent, offset = parents[chain[-1][0]]
            if parent in (segment for segment, _ in chain):
                raise InvalidArgumentError(f"The runs in {sorted(dict(chain))} resume each other in a circle")
            chain[-1] = (chain[-1][0], offset)
            chain.append((parent, 0))
        chain.reverse()
        steps, scores = [], []
        for index, (segment, start) in enumerate(chain):
            # games of this segment after the step the next segment resumed from were not continued
            end = chain[index + 1][1] if index + 1 < len(chain) else np.inf
            absolute = by_folder[segment].agent_steps + start
            kept = absolute <= end
            steps.append(absolute[kept])
            scores.append(by_folder[segment].scores[kept])
        segments = tuple(segment for segment, _ in chain) if len(chain) > 1 else ()
        joined.append(MonitorRun(run.env_id, run.folder, np.concatenate(steps), np.concatenate(scores), segments))
    return joined


def load_evaluation(path: str, named: bool = False) -> dict[str, Any] | None:
    """
    Read a result file of ``sb3_dqn_paper.evaluate``.

    :param path: A ``.json`` file
    :param named: Whether the user named this file (rather than it being found in a folder): then a file that is not
        an evaluation result is refused instead of skipped
    :return: The result dict, or ``None`` if the file is some other JSON (found in a folder)
    :raises InvalidArgumentError: for a damaged or truncated result file (one whose text names the evaluation
        ``kind``, or any unreadable file the user named), a named file that is not a result, or a result file of an
        unknown format version
    """
    with open(path, "rb") as file:
        raw = file.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        if named or RESULT_KIND.encode() in raw:
            raise InvalidArgumentError(
                f"{path} is a damaged or truncated evaluation file ({len(raw):,} bytes): {error}. "
                "Write it again with python -m sb3_dqn_paper.evaluate ... --out FILE"
            ) from error
        return None
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        if named:
            raise InvalidArgumentError(
                f"{path} is not an evaluation file of python -m sb3_dqn_paper.evaluate (no kind {RESULT_KIND!r})"
            )
        return None
    if data.get("format_version") != RESULT_FORMAT_VERSION:
        raise InvalidArgumentError(
            f"{path} is an evaluation file of format version {data.get('format_version')}, "
            f"this tool reads version {RESULT_FORMAT_VERSION}"
        )
    _check_evaluation_fields(data, path)
    data["file"] = path
    return data


#: Fields of an evaluation result that the report reads, and their types (``None`` allowed for the summaries).
_EVALUATION_FIELDS: dict[str, tuple[type, ...]] = {
    "env_id": (str,),
    "model_num_timesteps": (int,),
    "n_episodes": (int,),
    "protocol": (dict,),
    "unclipped": (dict, type(None)),
    "clipped": (dict, type(None)),
}
_PROTOCOL_FIELDS: dict[str, tuple[type, ...]] = {"n_steps": (int,), "seed": (int,), "epsilon": (int, float)}
_SUMMARY_FIELDS = ("mean", "min", "max")


def _check_evaluation_fields(data: dict[str, Any], path: str) -> None:
    """
    Refuse an evaluation result that lacks a field the report reads, naming the file and the field.

    :param data: The parsed JSON
    :param path: Its file
    :raises InvalidArgumentError: for a missing field or one of the wrong type
    """
    problems = []
    for name, types in _EVALUATION_FIELDS.items():
        if name not in data:
            problems.append(f"no '{name}'")
        elif not isinstance(data[name], types) or isinstance(data[name], bool):
            problems.append(f"'{name}' is {data[name]!r}")
    if isinstance(data.get("protocol"), dict):
        for name, types in _PROTOCOL_FIELDS.items():
            if not isinstance(data["protocol"].get(name), types):
                problems.append(f"'protocol.{name}' is {data['protocol'].get(name, 'missing')!r}")
    for summary in ("unclipped", "clipped"):
        if isinstance(data.get(summary), dict):
            for name in _SUMMARY_FIELDS:
                value = data[summary].get(name)
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    problems.append(f"'{summary}.{name}' is {data[summary].get(name, 'missing')!r}")
    if problems:
        raise InvalidArgumentError(
            f"{path} is an evaluation file with missing or damaged fields: {'; '.join(problems)}. "
            "Write it again with python -m sb3_dqn_paper.evaluate ... --out FILE"
        )


def collect_inputs(paths: Sequence[str], frame_skip: int | None = None) -> tuple[list[MonitorRun], list[dict[str, Any]]]:
    """
    Find the Monitor runs and evaluation files under ``paths``.

    :param paths: Folders (searched recursively), Monitor files or evaluation JSON files
    :param frame_skip: Monitor steps per agent step; ``None`` for the paper's per-game value
    :return: The runs and the evaluation results, each sorted by path
    :raises FileNotFoundError: for a path that does not exist
    """
    monitor_folders: set[str] = set()
    json_files: set[str] = set()
    named_json_files: set[str] = set()
    for path in paths:
        if not os.path.exists(path):
            raise MissingFileError(f"{path}: no such file or folder")
        if os.path.isdir(path):
            for monitor_file in glob.glob(os.path.join(path, "**", "*monitor.csv"), recursive=True):
                monitor_folders.add(os.path.dirname(monitor_file))
            json_files.update(glob.glob(os.path.join(path, "**", "*.json"), recursive=True))
        elif path.endswith("monitor.csv"):
            monitor_folders.add(os.path.dirname(path) or ".")
        elif path.endswith(".json"):
            json_files.add(path)
            named_json_files.add(path)
        else:
            raise InvalidArgumentError(f"{path} is neither a folder, a *.monitor.csv file nor an evaluation .json file")
    runs = [run for run in (load_monitor_run(folder, frame_skip) for folder in sorted(monitor_folders)) if run is not None]
    runs = join_resumed_runs(runs)
    loaded = (load_evaluation(path, named=path in named_json_files) for path in sorted(json_files))
    evaluations = [data for data in loaded if data is not None]
    return runs, evaluations


def auto_window(n_games: int) -> int:
    """
    :param n_games: Games in a run
    :return: The default smoothing window: ``n_games // 20``, clamped to [1, MAX_AUTO_WINDOW]
    """
    return int(min(MAX_AUTO_WINDOW, max(1, n_games // 20)))


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """
    Trailing moving average: entry ``i`` is the mean of the last ``window`` values up to ``i`` (fewer at the start).

    :param values: One value per game
    :param window: Games averaged
    :return: The smoothed values, same length
    """
    if window < 1:
        raise InvalidArgumentError(f"the smoothing window must be at least 1 game, got {window}")
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def learning_curve(runs: Sequence[MonitorRun], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """
    Mean and min-max spread of the smoothed scores of several runs, on a common grid of agent steps.

    The grid spans the agent steps that every run covers (from the latest first game to the earliest last game);
    each run is interpolated linearly between its games.

    :param runs: Runs of one env, each with at least one game
    :param window: Smoothing window in games
    :return: ``(agent_steps, mean, low, high)``, or ``None`` when the runs share no range of agent steps
    """
    start = max(run.agent_steps[0] for run in runs)
    end = min(run.agent_steps[-1] for run in runs)
    if len(runs) == 1:
        grid = runs[0].agent_steps
    elif end > start:
        grid = np.linspace(start, end, GRID_POINTS)
    else:
        return None
    curves = np.stack([np.interp(grid, run.agent_steps, smooth(run.scores, window)) for run in runs])
    return grid, curves.mean(axis=0), curves.min(axis=0), curves.max(axis=0)


def _env_file_name(env_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", env_id)


#: Draw a second, zoomed panel when the agent's scores span less than this fraction of the full y-range.
ZOOM_BELOW = 0.25


def same_budget_references(
    game: PaperGame, budget: float
) -> tuple[list[tuple[int, int, float]], list[tuple[int, float, float]]]:
    """
    The same-budget reference curves of ``game`` up to ``budget`` agent steps.

    :param game: A Table 1 game
    :param budget: The largest agent step drawn
    :return: Dopamine's iterations that start before ``budget`` as ``(first step, last step, mean training return)``,
        and CleanRL's points at or below ``budget`` (plus 10 %) as ``(agent steps, low, high)``
    """
    dopamine = [
        (index * DOPAMINE_ITERATION_STEPS, (index + 1) * DOPAMINE_ITERATION_STEPS, value)
        for index, value in DOPAMINE_PER_ITERATION.get(game.key, {}).items()
        if index * DOPAMINE_ITERATION_STEPS < budget
    ]
    cleanrl = [point for point in CLEANRL_CURVE_POINTS.get(game.key, ()) if point[0] <= 1.1 * budget]
    return dopamine, cleanrl


def _budget(runs: Sequence[MonitorRun], evaluations: Sequence[dict[str, Any]]) -> float:
    """:return: The largest agent step of the runs' games and of the evaluated models"""
    return max([run.budget for run in runs] + [data["model_num_timesteps"] for data in evaluations] + [0])


def plot_env(
    env_id: str,
    runs: Sequence[MonitorRun],
    evaluations: Sequence[dict[str, Any]],
    path: str,
    window: int | None = None,
) -> None:
    """
    Draw one env's learning curve, evaluation points and Table 1 lines into a PNG.

    When the paper's DQN line is far from the agent's scores (an early or short run), a second panel shows the
    agent's scores and the Random line at their own scale.

    :param env_id: Gymnasium id
    :param runs: Its training runs (may be empty)
    :param evaluations: Its evaluation results (may be empty)
    :param path: PNG file to write, or a binary file object
    :param window: Smoothing window in games; ``None`` for :func:`auto_window` of the shortest run
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    runs = [run for run in runs if len(run.scores)]
    evaluations = [data for data in evaluations if data["unclipped"] is not None]
    if runs and window is None:
        window = auto_window(min(len(run.scores) for run in runs))
    game = paper_game(env_id)
    data_values = [value for run in runs for value in (run.scores.min(), run.scores.max())]
    data_values += [value for data in evaluations for value in (data["unclipped"]["min"], data["unclipped"]["max"])]
    if game is not None and data_values:
        dopamine, cleanrl = same_budget_references(game, _budget(runs, evaluations))
        data_values += [value for *_, value in dopamine] + [value for point in cleanrl for value in point[1:]]
    zoom = False
    if game is not None and data_values:
        low, high = min([*data_values, game.random]), max([*data_values, game.random])
        full = max(high, game.dqn) - min(low, game.dqn)
        zoom = full > 0 and (high - low) < ZOOM_BELOW * full
    n_panels = 2 if zoom else 1
    figure, panels = plt.subplots(1, n_panels, figsize=(9 + 4 * (n_panels - 1), 5.6), dpi=100, squeeze=False)
    title = env_id if game is None else f"{game.title} ({env_id})"
    _draw_panel(panels[0, 0], runs, evaluations, game, window, with_dqn=True)
    panels[0, 0].set_title(title)
    if zoom:
        _draw_panel(panels[0, 1], runs, evaluations, game, window, with_dqn=False)
        panels[0, 1].set_title("zoom on the agent's scores")
    # One legend for the figure, below the panels (the first panel has every label)
    handles, labels = panels[0, 0].get_legend_handles_labels()
    n_columns = min(n_panels + 1, max(1, len(labels)))
    figure.legend(handles, labels, loc="lower center", ncol=n_columns, fontsize=8, frameon=False)
    n_rows = -(-len(labels) // n_columns)
    figure.tight_layout(rect=(0, 0.035 * n_rows + 0.01, 1, 1))
    try:
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)


def _draw_panel(
    axes: Any,
    runs: Sequence[MonitorRun],
    evaluations: Sequence[dict[str, Any]],
    game: PaperGame | None,
    window: int | None,
    with_dqn: bool,
) -> None:
    """Draw the games, the smoothed curve(s), the evaluation points and the Table 1 lines on ``axes``."""
    from matplotlib.ticker import EngFormatter

    if runs:
        assert window is not None
        # Few games: show each one clearly; many: keep them in the background
        few = sum(len(run.scores) for run in runs) < 300
        for index, run in enumerate(runs):
            axes.scatter(
                run.agent_steps,
                run.scores,
                s=12 if few else 5,
                alpha=0.5 if few else 0.2,
                color="tab:blue",
                linewidths=0,
                rasterized=True,
                label=None if index else "training games",
            )
        if len(runs) > 1:
            for run in runs:
                axes.plot(run.agent_steps, smooth(run.scores, window), color="tab:blue", alpha=0.6, linewidth=0.8)
        curve = learning_curve(runs, window)
        if curve is not None:
            steps, mean, low, high = curve
            games = "1 game" if window == 1 else f"{window} games"
            label = f"training score, moving average of {games}"
            if len(runs) > 1:
                label += f", mean of {len(runs)} runs"
            axes.plot(steps, mean, color="navy", linewidth=2.2, label=label)
            if len(runs) > 1:
                axes.fill_between(steps, low, high, color="tab:blue", alpha=0.2, label=f"min-max over {len(runs)} runs")
        else:
            axes.text(
                0.01, 0.01, "runs share no range of agent steps: no mean drawn", transform=axes.transAxes, color="tab:red"
            )
    for index, data in enumerate(evaluations):
        stats = data["unclipped"]
        axes.errorbar(
            [data["model_num_timesteps"]],
            [stats["mean"]],
            yerr=[[stats["mean"] - stats["min"]], [stats["max"] - stats["mean"]]],
            fmt="D",
            color="black",
            markersize=6,
            capsize=4,
            label=None if index else f"evaluation (epsilon={data['protocol']['epsilon']}): average, min-max",
        )
    if game is not None:
        dopamine, cleanrl = same_budget_references(game, _budget(runs, evaluations))
        if dopamine:
            starts, ends, values = zip(*dopamine, strict=True)
            axes.hlines(
                values,
                starts,
                ends,
                color="tab:orange",
                linewidth=2.5,
                label="Dopamine DQN: mean training return per 250k-step iteration (sticky actions, 5 seeds)",
            )
        for index, (steps, low, high) in enumerate(cleanrl):
            axes.errorbar(
                [steps],
                [(low + high) / 2],
                yerr=[[(high - low) / 2]],
                fmt="s",
                color="tab:green",
                markersize=6,
                capsize=4,
                label=None if index else "CleanRL DQN: training return (read off its plots)",
            )
        if with_dqn:
            axes.axhline(game.dqn, color="tab:red", linestyle="--", linewidth=1.5, label=f"paper DQN average ({game.dqn:g})")
        axes.axhline(game.random, color="tab:gray", linestyle=":", linewidth=1.5, label=f"paper Random ({game.random:g})")
    budget = _budget(runs, evaluations)
    if budget > 0:
        # the run sets the x-range, not a reference that goes further (Dopamine's first iteration is 250k steps long)
        axes.set_xlim(0, 1.05 * budget)
    axes.set_xlabel("agent steps")
    axes.set_ylabel("score per game (unclipped)")
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)


def _paper_cells(game: PaperGame | None) -> list[str]:
    if game is None:
        return ["", "", "", ""]
    return [format_score(game.random), format_score(game.dqn), format_score(game.dqn_best), format_score(game.human)]


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " if i < 2 else " ---: " for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def evaluation_table(evaluations: Sequence[dict[str, Any]]) -> str:
    """
    One Markdown row per evaluation file: our unclipped average / max / min beside Table 1.

    :param evaluations: Results of ``sb3_dqn_paper.evaluate``
    :return: The table
    """
    header = [
        "Game",
        "Env id",
        "Budget (agent steps)",
        "Eval steps",
        "Seed",
        "Games",
        "Average",
        "Max",
        "Min",
        "Clipped average",
        "Random",
        "DQN",
        "DQN Best",
        "Human",
    ]
    rows = []
    ordered = sorted(evaluations, key=lambda data: (data["env_id"], data["model_num_timesteps"], data["protocol"]["seed"]))
    for data in ordered:
        game = paper_game(data["env_id"])
        stats, clipped = data["unclipped"], data["clipped"]
        rows.append(
            [
                data["env_id"] if game is None else game.title,
                data["env_id"],
                f"{data['model_num_timesteps']:,}",
                f"{data['protocol']['n_steps']:,}",
                str(data["protocol"]["seed"]),
                str(data["n_episodes"]),
                format_score(None if stats is None else stats["mean"]),
                format_score(None if stats is None else stats["max"]),
                format_score(None if stats is None else stats["min"]),
                format_score(None if clipped is None else clipped["mean"]),
                *_paper_cells(game),
            ]
        )
    return _markdown(header, rows)


def training_table(runs: Sequence[MonitorRun], window: int | None = None) -> str:
    """
    One Markdown row per env of the training logs: the average of each run's last games, beside Table 1.

    :param runs: Monitor runs
    :param window: Games averaged at the end of each run; ``None`` for :func:`auto_window`
    :return: The table
    """
    header = [
        "Game",
        "Env id",
        "Runs",
        "Budget (Monitor frames / frame skip)",
        "Games",
        "Last games",
        "Average of last games",
        "Best game",
        "Random",
        "DQN",
        "DQN Best",
        "Human",
    ]
    rows = []
    for env_id, env_runs in sorted(_group_runs(runs).items()):
        env_runs = [run for run in env_runs if len(run.scores)]
        if not env_runs:
            continue
        game = paper_game(env_id)
        last = window or auto_window(min(len(run.scores) for run in env_runs))
        budgets = sorted({run.budget for run in env_runs})
        finals = [float(np.mean(run.scores[-last:])) for run in env_runs]
        rows.append(
            [
                env_id if game is None else game.title,
                env_id,
                str(len(env_runs)),
                f"{budgets[0]:,}" if len(budgets) == 1 else f"{budgets[0]:,}-{budgets[-1]:,}",
                str(sum(len(run.scores) for run in env_runs)),
                str(last),
                format_score(float(np.mean(finals))),
                format_score(float(max(run.scores.max() for run in env_runs))),
                *_paper_cells(game),
            ]
        )
    return _markdown(header, rows)


def _group_runs(runs: Sequence[MonitorRun]) -> dict[str, list[MonitorRun]]:
    groups: dict[str, list[MonitorRun]] = {}
    for run in runs:
        groups.setdefault(run.env_id, []).append(run)
    return groups


def write_report(
    paths: Sequence[str], out: str, window: int | None = None, frame_skip: int | None = None
) -> tuple[list[str], str]:
    """
    Write one PNG per env and the Markdown tables.

    :param paths: Log folders, Monitor files or evaluation files
    :param out: Output folder (created if needed; the report's own files in it are replaced)
    :param window: Smoothing window in games; ``None`` for :func:`auto_window`
    :param frame_skip: Monitor steps per agent step; ``None`` for the paper's per-game value
    :return: The PNG paths and the Markdown text
    :raises InvalidArgumentError: when nothing is found, or for bad settings
    :raises SaveError: when a file cannot be written (then none of the report's files is changed)
    """
    if window is not None and window < 1:
        raise InvalidArgumentError(f"--window must be at least 1 game, got {window}")
    if frame_skip is not None and frame_skip < 1:
        raise InvalidArgumentError(f"--frame-skip must be at least 1, got {frame_skip}")
    runs, evaluations = collect_inputs(paths, frame_skip)
    if not runs and not evaluations:
        raise InvalidArgumentError(f"Found no *.monitor.csv file and no evaluation .json file under {', '.join(paths)}")
    run_groups = _group_runs(runs)
    eval_groups: dict[str, list[dict[str, Any]]] = {}
    for data in evaluations:
        eval_groups.setdefault(data["env_id"], []).append(data)
    # Everything is drawn in memory first, then written together: a failure (e.g. a full disk) leaves the folder as
    # it was, instead of a mix of old and new files and an empty PNG
    files: dict[str, bytes] = {}
    for env_id in sorted(set(run_groups) | set(eval_groups)):
        png = os.path.join(out, f"{_env_file_name(env_id)}.png")
        image = io.BytesIO()
        plot_env(env_id, run_groups.get(env_id, []), eval_groups.get(env_id, []), image, window)
        files[png] = image.getvalue()
    pngs = list(files)
    sections = ["# Results against Table 1 of Mnih et al. (2013)", ""]
    if evaluations:
        sections += [
            "## Evaluation (epsilon-greedy, completed whole games, unclipped score)",
            "",
            "Budget: agent steps the model was trained for. Random, DQN, DQN Best, Human: the paper's Table 1.",
            "",
            evaluation_table(evaluations),
            "",
        ]
    if runs:
        sections += [
            "## Training (Monitor logs, unclipped score of the training games)",
            "",
            "Budget: agent steps covered by the completed training games (Monitor frames / frame skip). These games are "
            "played with the training epsilon, so they are not the paper's protocol.",
            "",
            training_table(runs, window),
            "",
        ]
    markdown = "\n".join(sections)
    files[os.path.join(out, TABLE_FILE)] = markdown.encode()
    atomic_write_files(files)
    return pngs, markdown


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.report``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.report",
        description="Learning curves (one PNG per game) and a Markdown table against the paper's Table 1, "
        "from SB3/rl-zoo3 Monitor logs and sb3_dqn_paper.evaluate result files.",
    )
    parser.add_argument("paths", nargs="+", metavar="LOGDIR", help="log folders (searched recursively) or files")
    parser.add_argument("--out", default="report", help="output folder (default ./report)")
    parser.add_argument("--window", type=int, help="smoothing window in games (default: a 20th of the games, at most 100)")
    parser.add_argument(
        "--frame-skip",
        type=int,
        help="Monitor steps per agent step (default: the paper's k for NoFrameskip Atari ids, else 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point.

    :param argv: Arguments (default: ``sys.argv[1:]``)
    :return: Exit status: 0 on success, 2 on bad input
    """
    args = make_parser().parse_args(argv)
    try:
        pngs, markdown = write_report(args.paths, args.out, args.window, args.frame_skip)
    except (PaperDQNError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown)
    for png in pngs:
        print(f"wrote {png}")
    print(f"wrote {os.path.join(args.out, TABLE_FILE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
