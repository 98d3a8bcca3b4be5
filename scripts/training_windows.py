"""
Average training game of a campaign run over windows of agent steps, from its Monitor logs.

The Monitor sits below ``AtariWrapper`` and counts frames, including the no-op and FIRE frames of resets that are
no agent steps, so frames / frame skip drifts ahead of the agent's steps over a run (about 6 % by 1M in Breakout).
The games are therefore placed as ``campaign report`` places them for its curves: each segment's games between the
agent steps that the campaign recorded at the segment's start and end (``segments/NNN.json``), their frames scaled
to that span (:func:`sb3_dqn_paper.tools.campaign.training_games.placed_run`); a game is counted in the window where
it ended.

    python scripts/training_windows.py ~/runs/campaign/runs/QbertNoFrameskip-v4_seed0 750000 1000000 950000 1000000
"""

import argparse
import pathlib

import numpy as np

from sb3_dqn_paper.tools.campaign.training_games import placed_run
from sb3_dqn_paper.tools.run_folder import load_monitor_run


def placed_games(run: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """
    :param run: A campaign run folder (``runs/<EnvId>_seed<N>``)
    :return: The agent step at which each completed training game ended, and its score
    """
    folders = sorted(path.parent for path in (run / "paper_dqn").glob("*/*.monitor.csv"))
    monitor_run = load_monitor_run(str(folders[0]), frame_skip=1) if folders else None
    games = None if monitor_run is None else placed_run(run, monitor_run.env_id)
    if games is None:
        raise SystemExit(
            f"error: {run} has no training games that its segment records place (segments/NNN.json beside each "
            "paper_dqn/<EnvId>_<n>/ folder with a Monitor log)"
        )
    return games.agent_steps, games.scores


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
