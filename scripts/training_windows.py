"""
Average training game of a campaign run over windows of agent steps, from its Monitor logs.

The Monitor sits below ``AtariWrapper`` and counts frames, including the no-op and FIRE frames of resets that are
no agent steps, so frames / frame skip drifts ahead of the agent's steps over a run (about 6 % by 1M in Breakout).
Each segment's games are therefore placed between the agent steps that the campaign recorded at the segment's start
and end (``segments/NNN.json``), their frames scaled to that span; a game is counted in the window where it ended.

    python scripts/training_windows.py ~/runs/campaign/runs/QbertNoFrameskip-v4_seed0 750000 1000000 950000 1000000
"""

import argparse
import pathlib

import numpy as np
from stable_baselines3.common.monitor import load_results

from sb3_dqn_paper.tools.campaign.provenance import read_records


def placed_games(run: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """
    :param run: A campaign run folder (``runs/<EnvId>_seed<N>``)
    :return: The agent step at which each completed training game ended, and its score, over the ended segments
    """
    steps, scores = [], []
    for record in read_records(run / "segments"):
        if record.get("steps_at_end") is None:
            continue  # a segment still running, or one that left no record of its end
        folders = list((run / "paper_dqn").glob(f"*_{record['segment']}"))
        if len(folders) != 1 or not list(folders[0].glob("*.monitor.csv")):
            continue
        games = load_results(str(folders[0]))
        frames = np.cumsum(games["l"].to_numpy(dtype=np.float64))
        if not len(frames):
            continue
        start, end = record["steps_at_start"], record["steps_at_end"]
        steps.append(start + frames / frames[-1] * (end - start))
        scores.append(games["r"].to_numpy(dtype=np.float64))
    if not steps:
        raise SystemExit(f"error: {run} has no ended segment with a Monitor log (segments/NNN.json, paper_dqn/*_N/)")
    return np.concatenate(steps), np.concatenate(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=pathlib.Path, help="a campaign run folder: CAMPAIGN/runs/ENVID_seedN")
    parser.add_argument("bounds", type=int, nargs="+", help="window edges in agent steps, in pairs: LO HI [LO HI ...]")
    args = parser.parse_args()
    if len(args.bounds) % 2:
        parser.error(f"give the window edges in pairs (LO HI), got {len(args.bounds)} numbers")
    steps, scores = placed_games(args.run)
    for low, high in zip(args.bounds[::2], args.bounds[1::2], strict=True):
        inside = scores[(steps > low) & (steps <= high)]
        if not len(inside):
            print(f"{low:,}-{high:,}: no game")
            continue
        dash = " to " if inside.min() < 0 else "-"  # as the results pages write a range: -21 to -19, 0-1300
        print(f"{low:,}-{high:,}: {len(inside)} games, average {inside.mean():.1f} ({inside.min():g}{dash}{inside.max():g})")


if __name__ == "__main__":
    main()
