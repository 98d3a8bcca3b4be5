"""
The training games of a campaign run, each at the agent step where it ended, from the segments' records.

SB3's Monitor sits below ``AtariWrapper`` and counts emulator frames, including the no-op and FIRE frames of resets
that are no agent steps, so frames / frame skip runs ahead of the agent's steps (about 6 % by 1M in Breakout). A
campaign records the agent steps at each segment's start and end (``segments/NNN.json``), so each segment's games
can be placed between them instead: their frames scaled to the segment's span. A segment's record is linked to its
rl-zoo3 folder by the agent step of the checkpoint it resumed, not by their numbers.
"""

import os
import pathlib
from typing import Any

import numpy as np

from sb3_dqn_paper.tools.campaign.provenance import read_records
from sb3_dqn_paper.tools.run_folder import (
    MonitorRun,
    load_monitor_run,
    monitor_steps_per_agent_step,
    place_games,
    resumed_from,
)


def _resumed_steps(folder: pathlib.Path, env_id: str) -> int:
    """:return: The agent step of the checkpoint an rl-zoo3 folder's run resumed (0 for a run started from scratch)"""
    origin = resumed_from(str(folder), env_id)
    return 0 if origin is None else origin[1]


def segment_folders(
    run_folder: str | os.PathLike, env_id: str, records: list[dict[str, Any]] | None = None
) -> list[tuple[dict[str, Any], pathlib.Path]] | None:
    """
    Pair each segment record of a campaign run with the rl-zoo3 folder its process wrote.

    A record and a folder belong together when the record's ``steps_at_start`` is the agent step of the checkpoint
    the folder's run resumed (:func:`~sb3_dqn_paper.tools.run_folder.resumed_from`; 0 for the first segment).
    Where several segments resumed one checkpoint (a segment started again after a failure), the newest folders go
    with the newest records: a record left without a folder is a segment that failed before rl-zoo3 made one.

    :param run_folder: A campaign run folder (``OUT/runs/<EnvId>_seed<S>``)
    :param env_id: Its env id
    :param records: Its segment records, where already read (default: read from ``run_folder / "segments"``)
    :return: ``(record, folder)`` pairs, oldest first; ``None`` when a folder with Monitor files has no record (a run
        begun by a version that did not write them), so that its games cannot all be placed
    """
    run_folder = pathlib.Path(run_folder)
    prefix = f"{env_id.replace('/', '-')}_"
    folders = [
        path
        for path in (run_folder / "paper_dqn").glob(f"{prefix}*")
        if path.is_dir() and path.name[len(prefix) :].isdigit() and any(path.glob("*.monitor.csv"))
    ]
    folders.sort(key=lambda path: int(path.name[len(prefix) :]))
    by_start: dict[int, list[pathlib.Path]] = {}
    for folder in folders:
        by_start.setdefault(_resumed_steps(folder, env_id), []).append(folder)
    if records is None:
        records = read_records(run_folder / "segments")
    pairs = []
    for start, key_folders in by_start.items():
        key_records = [record for record in records if record["steps_at_start"] == start]
        if len(key_records) < len(key_folders):
            return None
        # the newest of them made the newest folder; an older one may have failed before making any
        pairs += zip(key_records[len(key_records) - len(key_folders) :], key_folders, strict=True)
    return sorted(pairs, key=lambda pair: pair[0]["segment"])


def placed_run(run_folder: str | os.PathLike, env_id: str, records: list[dict[str, Any]] | None = None) -> MonitorRun | None:
    """
    The completed training games of a campaign run, placed at agent steps by the segments' records.

    Each segment's games are placed by :func:`~sb3_dqn_paper.tools.run_folder.place_games`, the rule ``report``
    uses too: a segment that ended cleanly (exit status 0: stopped at a checkpoint, or done) has its games' frames
    scaled to the agent steps between its recorded start and end, its last completed game put at the end, up to one
    game late (the log has no frames of the game still going at the stop); games counted at frame skip 1 are agent
    steps already and are only shifted by the start. A segment still running, or one that failed, counts frames /
    frame skip from its start, and the failed one's games after its newest sound checkpoint (its recorded end, which
    the next segment resumed) are dropped.

    :param run_folder: A campaign run folder (``OUT/runs/<EnvId>_seed<S>``)
    :param env_id: Its env id
    :param records: Its segment records, where already read (default: read from ``run_folder / "segments"``)
    :return: The run (``segments``: its rl-zoo3 folders), or ``None`` when some games cannot be placed this way
        (see :func:`segment_folders`) or there are none
    """
    pairs = segment_folders(run_folder, env_id, records)
    if not pairs:
        return None
    frame_skip = monitor_steps_per_agent_step(env_id)
    steps, scores = [], []
    for record, folder in pairs:
        games = load_monitor_run(str(folder), frame_skip=frame_skip)
        if games is None or not len(games.agent_steps):
            continue
        start, end = record["steps_at_start"], record.get("steps_at_end")
        clean = end is not None and record.get("exit_status") == 0
        placed, _ = place_games(games.agent_steps, frame_skip, start, end if clean else None)
        if end is not None and not clean:
            kept = placed <= end
            placed, games.scores = placed[kept], games.scores[kept]
        steps.append(placed)
        scores.append(games.scores)
    if not steps:
        return None
    folder_names = tuple(str(folder) for _, folder in pairs)
    return MonitorRun(env_id, folder_names[-1], np.concatenate(steps), np.concatenate(scores), folder_names, exact=True)
