"""
Learning-curve figures: the training score against agent steps, smoothed over games, as the mean over runs and the
min-max spread between them, with the evaluations as points, the paper's DQN average and Random rows as lines, and
the same-budget references up to the run's budget. matplotlib draws with the Agg backend (no display needed).
"""

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.run_folder import MonitorRun
from sb3_dqn_paper.tools.table1 import (
    CLEANRL_CURVE_POINTS,
    DOPAMINE_ITERATION_STEPS,
    DOPAMINE_PER_ITERATION,
    DOPAMINE_SEED_RANGE,
    PaperGame,
    paper_game,
)

#: Smoothing window (in games) when none is given: a twentieth of the run's games, between 1 and 100.
MAX_AUTO_WINDOW = 100


#: Points of the common agent-step grid on which runs are averaged.
GRID_POINTS = 200


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


def env_file_name(env_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", env_id)


#: Draw a second, zoomed panel when the agent's scores span less than this fraction of the full y-range.
ZOOM_BELOW = 0.25


# Dopamine's iterations as (first step, last step, mean, lowest seed's, highest seed's); CleanRL's points as (steps, low, high)
SameBudgetReferences = tuple[list[tuple[int, int, float, float, float]], list[tuple[int, float, float]]]


def same_budget_references(game: PaperGame, budget: float) -> SameBudgetReferences:
    """
    The same-budget reference curves of ``game`` up to ``budget`` agent steps.

    :param game: A Table 1 game
    :param budget: The largest agent step drawn
    :return: Dopamine's iterations that start before ``budget`` as ``(first step, last step, mean training return,
        lowest seed's, highest seed's)``, and CleanRL's points at or below ``budget`` (plus 10 %) as
        ``(agent steps, low, high)``
    """
    dopamine = [
        (
            index * DOPAMINE_ITERATION_STEPS,
            (index + 1) * DOPAMINE_ITERATION_STEPS,
            value,
            *DOPAMINE_SEED_RANGE[game.key][index],
        )
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
    # the same-budget references, for the y-range and for each panel
    references = same_budget_references(game, _budget(runs, evaluations)) if game is not None else ([], [])
    if data_values:
        data_values += [value for point in references[0] for value in point[2:]]
        data_values += [value for point in references[1] for value in point[1:]]
    zoom = False
    if game is not None and data_values:
        low, high = min([*data_values, game.random]), max([*data_values, game.random])
        full = max(high, game.dqn) - min(low, game.dqn)
        zoom = full > 0 and (high - low) < ZOOM_BELOW * full
    n_panels = 2 if zoom else 1
    figure, panels = plt.subplots(1, n_panels, figsize=(9 + 4 * (n_panels - 1), 5.6), dpi=100, squeeze=False)
    title = env_id if game is None else f"{game.title} ({env_id})"
    _draw_panel(panels[0, 0], runs, evaluations, game, references, window, with_dqn=True)
    panels[0, 0].set_title(title)
    if zoom:
        _draw_panel(panels[0, 1], runs, evaluations, game, references, window, with_dqn=False)
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
    references: SameBudgetReferences,
    window: int | None,
    with_dqn: bool,
) -> None:
    """
    Draw the games, the smoothed curve(s), the evaluation points and the Table 1 lines on ``axes``.

    :param references: The game's same-budget references, as :func:`same_budget_references` returns them
    """
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
        dopamine, cleanrl = references
        if dopamine:
            starts, ends, values, lowest, highest = zip(*dopamine, strict=True)
            axes.hlines(
                values,
                starts,
                ends,
                color="tab:orange",
                linewidth=2.5,
                label="Dopamine DQN: mean training return per 250k-step iteration (sticky actions, 5 seeds)",
            )
            for index, (start, end, low, high) in enumerate(zip(starts, ends, lowest, highest, strict=True)):
                axes.fill_between(
                    [start, end],
                    [low, low],
                    [high, high],
                    color="tab:orange",
                    alpha=0.2,
                    linewidth=0,
                    label=None if index else "Dopamine DQN: lowest-highest of its 5 seeds",
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
