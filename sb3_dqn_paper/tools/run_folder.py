"""
Reading the folders that training leaves: SB3 ``Monitor`` logs (one run per folder, joined across rl-zoo3 resumes),
and the ``config.yml`` / ``args.yml`` of an rl-zoo3 run.

Agent steps are read off the Monitor: its ``l`` counts the steps of the env below SB3's ``AtariWrapper``, i.e.
emulator frames for the ``NoFrameskip`` ids, so agent steps = frames / k with the paper's frame skip ``k``. That runs
ahead of the agent's steps (the no-op and FIRE frames of resets are no agent steps), so where a folder holds the model
rl-zoo3 saved when its run ended (``<EnvId>.zip``, also after Ctrl-C or SIGTERM), the run's games are placed between the
agent steps it started at and the model's ``num_timesteps`` instead.
"""

import json
import os
import re
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_dqn_paper.errors import InvalidArgumentError

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
    :param exact: Whether ``agent_steps`` were placed by recorded agent steps (a final model's, a campaign's records)
        rather than counted as Monitor frames / frame skip
    :param frame_skip: Monitor steps per agent step the games were counted at, where known; at 1 the Monitor counts
        agent steps themselves
    """

    env_id: str
    folder: str
    agent_steps: np.ndarray
    scores: np.ndarray
    segments: tuple[str, ...] = ()
    exact: bool = False
    frame_skip: int | None = None

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
    return MonitorRun(env_id, folder, agent_steps, np.asarray(scores, dtype=np.float64), frame_skip=frame_skip)


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


def final_model_steps(folder: str, env_id: str) -> int | None:
    """
    The agent steps of the model rl-zoo3 saved in ``folder`` when the run ended (``<folder>/<EnvId>.zip``).

    Read from the archive's ``data`` entry with :mod:`zipfile` (SB3's loader would also load the weights and the
    pickled classes, for one number).

    :param folder: An rl-zoo3 run folder
    :param env_id: Its env id
    :return: The model's ``num_timesteps``, or ``None`` where there is no such model or it cannot be read
    """
    path = os.path.join(folder, f"{env_id.replace('/', '-')}.zip")
    if not os.path.isfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            steps = json.loads(archive.read("data"))["num_timesteps"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return steps if isinstance(steps, int) and steps > 0 else None


def scale_to_span(agent_steps: np.ndarray, start: float, end: float) -> np.ndarray:
    """
    Place a segment's games between the agent steps it started and ended at: their counted steps scaled so that the
    last completed game stands at ``end`` (up to one game late: the log has no steps of a game still going at the end).

    :param agent_steps: The games' cumulative steps as counted in the segment (e.g. Monitor frames / frame skip), > 0
    :param start: Agent step the segment started at
    :param end: Agent step it ended at
    :return: The games' agent steps
    """
    return start + agent_steps / agent_steps[-1] * (end - start)


def place_games(steps: np.ndarray, frame_skip: int | None, start: float, end: float | None) -> tuple[np.ndarray, bool]:
    """
    Place one segment's completed games at agent steps: the rule shared by ``report`` and ``campaign report``.

    Counted at frame skip 1 (non-Atari ids, ids with built-in frame skip), the Monitor's steps are agent steps
    already: they are shifted by ``start`` and never scaled (scaling would move the last completed game to ``end``).
    Counted at a larger frame skip, Monitor frames include reset frames that are no agent steps, so where the agent
    step the segment ended at is known its games are scaled to ``[start, end]`` (:func:`scale_to_span`; the last
    completed game then stands at ``end``, up to one game late), else counted from ``start``.

    :param steps: The games' cumulative Monitor steps in the segment, divided by ``frame_skip``
    :param frame_skip: Monitor steps per agent step they were counted at (``None``: unknown, taken as above 1)
    :param start: The agent step the segment started at
    :param end: The agent step it is known to have ended at, or ``None``
    :return: The games' agent steps, and whether they were scaled
    """
    if frame_skip == 1 or end is None or end <= start or not len(steps) or steps[-1] <= 0:
        return steps + start, False
    return scale_to_span(steps, start, end), True


def _placed_steps(run: MonitorRun, start: int, resumed_at: float = np.inf) -> tuple[np.ndarray, bool]:
    """
    :param run: One folder's games, at Monitor frames / frame skip
    :param start: The agent step its run started at
    :param resumed_at: The agent step of the checkpoint a later run resumed from it, if one did
    :return: The agent steps of ``run``'s games, counted from ``start`` and placed by :func:`place_games`, with the
        end at its final model's agent steps where that model is in its folder; and whether they were scaled
    """
    end = None if run.frame_skip == 1 else final_model_steps(run.folder, run.env_id)
    if end is not None and 0 < end - resumed_at <= 1:
        end = int(resumed_at)  # stopped at that checkpoint: the final model is saved one agent step after it
    return place_games(run.agent_steps, run.frame_skip, start, end)


def join_resumed_runs(runs: Sequence[MonitorRun]) -> list[MonitorRun]:
    """
    Join each rl-zoo3 run that resumed a checkpoint (``-i rl_model_<N>_steps.zip``) to the run it continues.

    A resume writes a new run folder whose Monitor restarts its step count: its games are shifted by the
    checkpoint's ``N`` agent steps and appended to the games of the checkpoint's run up to ``N`` (games after
    the checkpoint were not continued). The checkpoint's run is found at the path ``-i`` named, or, when the logs
    were copied or moved since, as the sibling folder of that name. Chains (a resume of a resume) are followed;
    the joined run keeps the newest folder's name and lists every folder in ``segments``. A folder that holds its
    run's final model has its games placed by the model's agent steps (:func:`final_model_steps`), a run on its own too.

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
        steps, scores, exact = [], [], True
        for index, (segment, start) in enumerate(chain):
            # games of this segment after the step the next segment resumed from were not continued
            end = chain[index + 1][1] if index + 1 < len(chain) else np.inf
            absolute, placed = _placed_steps(by_folder[segment], start, end)
            exact = exact and placed
            kept = absolute <= end
            steps.append(absolute[kept])
            scores.append(by_folder[segment].scores[kept])
        segments = tuple(segment for segment, _ in chain) if len(chain) > 1 else ()
        joined.append(
            MonitorRun(run.env_id, run.folder, np.concatenate(steps), np.concatenate(scores), segments, exact, run.frame_skip)
        )
    return joined


class _RunFileLoader(yaml.SafeLoader):
    """A safe loader that also reads the ``OrderedDict`` that rl-zoo3 writes, and no other Python object."""


_RunFileLoader.add_constructor(
    "tag:yaml.org,2002:python/object/apply:collections.OrderedDict",
    lambda loader, node: OrderedDict(loader.construct_sequence(node, deep=True)[0]),
)


def load_run_file(path: str | Path) -> Any:
    """
    Read the ``config.yml`` or ``args.yml`` of an rl-zoo3 run (``logs/<algo>/<EnvId>_<n>/<EnvId>/``).

    rl-zoo3 writes them with ``yaml.dump`` of an ``OrderedDict`` and reads them back with ``yaml.UnsafeLoader``; this
    reads the same files without running arbitrary constructors.

    :param path: The file
    :return: Its content, with rl-zoo3's ``OrderedDict`` as an ``OrderedDict``
    :raises yaml.YAMLError: for a damaged file or one with other Python objects
    """
    with open(path) as file:
        return yaml.load(file, Loader=_RunFileLoader)
