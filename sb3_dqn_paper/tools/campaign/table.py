"""
``campaign report``: the campaign's evaluations in the layout of the paper's Table 1, at every budget reached,
beside the paper's rows and the same-budget references; human-normalised scores with their median and
interquartile mean (IQM) over games and 95 % stratified-bootstrap intervals; the learning curves of every game
(:func:`sb3_dqn_paper.tools.report.write_report`); and each run's latest evaluated agent exported in rl-zoo3's layout.

Everything is read from the campaign folder: ``campaign.json``, ``evals/<run>/<steps>.json`` and the run folders.
"""

import json
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.tools.campaign.config import CampaignConfig
from sb3_dqn_paper.tools.campaign.provenance import read_records, segments_markdown
from sb3_dqn_paper.tools.campaign.runs import Run, campaign_runs
from sb3_dqn_paper.tools.campaign.training_games import placed_run
from sb3_dqn_paper.tools.common import format_score
from sb3_dqn_paper.tools.table1 import (
    BUDGET_REFERENCES,
    DOPAMINE_ITERATION_STEPS,
    DOPAMINE_PER_ITERATION,
    DOPAMINE_SEED_RANGE,
    HUMAN_NORMALISATION,
    TABLE1,
    PaperGame,
    paper_game,
)

#: The Markdown file of the report.
REPORT_FILE = "table1.md"
#: The numbers of the report, for other tools and for the docs' tests.
REPORT_DATA_FILE = "table1.json"
#: Bootstrap resamples of the aggregate intervals.
BOOTSTRAP_REPS = 2000


@dataclass
class GameScore:
    """
    One game's evaluations at one budget, over the seeds evaluated there.

    :param game: The Table 1 game
    :param steps: The budget (agent steps)
    :param runs: The evaluation files' data, one per seed
    """

    game: PaperGame
    steps: int
    runs: list[dict[str, Any]]

    def _episode_scores(self, clipped: bool = False) -> list[np.ndarray]:
        key = "clipped_score" if clipped else "score"
        return [np.array([episode[key] for episode in data["episodes"]], dtype=float) for data in self.runs]

    def mean(self, clipped: bool = False) -> float | None:
        """:return: The average score over seeds of each seed's average game (``None`` without a completed game)"""
        means = [scores.mean() for scores in self._episode_scores(clipped) if scores.size]
        return float(np.mean(means)) if means else None

    def best(self, clipped: bool = False) -> float | None:
        """:return: The best single game of any seed"""
        scores = [scores.max() for scores in self._episode_scores(clipped) if scores.size]
        return float(max(scores)) if scores else None

    def worst(self, clipped: bool = False) -> float | None:
        """:return: The worst single game of any seed"""
        scores = [scores.min() for scores in self._episode_scores(clipped) if scores.size]
        return float(min(scores)) if scores else None

    @property
    def n_games(self) -> int:
        """Completed evaluation games over all seeds."""
        return sum(len(data["episodes"]) for data in self.runs)

    def seed_means(self) -> list[float]:
        """:return: Each seed's average game (seeds without a completed game left out)"""
        return [float(scores.mean()) for scores in self._episode_scores() if scores.size]

    def episodes(self) -> list[np.ndarray]:
        """:return: Each seed's game scores"""
        return self._episode_scores()

    def average_max_q(self) -> float | None:
        """:return: The average over seeds of the average max Q on the held-out states (``None``: not measured)"""
        values = [data["held_out"]["average_max_q"] for data in self.runs if data.get("held_out")]
        return float(np.mean(values)) if values else None

    def inactive_units(self) -> str:
        """:return: Each seed's inactive units of the last hidden layer, ``"250 of 256"`` (``-``: not measured)"""
        held_out = [data.get("held_out") or {} for data in self.runs]
        counts = [f"{entry['inactive_units']} of {entry['units']}" for entry in held_out if entry.get("units")]
        return " / ".join(counts) if counts else "-"


def human_normalised(score: float, game_key: str, reference: str = "dqn_zoo") -> float:
    """
    ``(score - random) / (human - random)``.

    :param score: A score of the game
    :param game_key: The game (:attr:`PaperGame.key`)
    :param reference: ``"dqn_zoo"`` (:data:`~sb3_dqn_paper.tools.table1.HUMAN_NORMALISATION`, the usual reference) or
        ``"paper"`` (Table 1's own Random and Human rows)
    :return: The human-normalised score (0: random play, 1: the human tester)
    """
    if reference == "paper":
        random, human = TABLE1[game_key].random, TABLE1[game_key].human
    else:
        random, human = HUMAN_NORMALISATION[game_key]
    return (score - random) / (human - random)


def aggregate_median(scores: np.ndarray) -> float:
    """
    :param scores: Normalised scores, ``(runs, games)``
    :return: The median over games of the mean over runs (rliable's ``aggregate_median``)
    """
    return float(np.median(np.mean(scores, axis=0)))


def aggregate_iqm(scores: np.ndarray) -> float:
    """
    :param scores: Normalised scores, ``(runs, games)``
    :return: The interquartile mean of all scores: the mean of the middle 50 % after cutting a quarter at each end
        (rliable's ``aggregate_iqm``, ``scipy.stats.trim_mean(..., 0.25)``)
    """
    from scipy.stats import trim_mean

    return float(trim_mean(scores, proportiontocut=0.25, axis=None))


def bootstrap_over_games_episodes(
    episodes: Sequence[np.ndarray], keys: Sequence[str], reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """
    95 % percentile intervals of the median and the IQM when each game has one run: stratified by game, each
    resample draws every game's evaluation games with replacement (so the interval covers the evaluation's noise,
    not the seed's).

    :param episodes: Per game, its evaluation games' scores
    :param keys: The games' keys, for normalisation
    :param reps: Resamples
    :param seed: Seed of the resampling
    :return: ``{"median": (low, high), "iqm": (low, high)}``
    """
    rng = np.random.default_rng(seed)
    medians, iqms = np.empty(reps), np.empty(reps)
    for rep in range(reps):
        row = np.array(
            [
                [
                    human_normalised(float(rng.choice(scores, scores.size).mean()), key)
                    for scores, key in zip(episodes, keys, strict=True)
                ]
            ]
        )
        medians[rep], iqms[rep] = aggregate_median(row), aggregate_iqm(row)
    return {
        "median": (float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))),
        "iqm": (float(np.percentile(iqms, 2.5)), float(np.percentile(iqms, 97.5))),
    }


def bootstrap_over_runs(scores: np.ndarray, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict[str, tuple[float, float]]:
    """
    rliable's stratified bootstrap over runs (``rliable.library.get_interval_estimates``), when games have several
    seeds.

    :param scores: Normalised scores, ``(runs, games)``
    :param reps: Resamples
    :param seed: Seed of the resampling
    :return: ``{"median": (low, high), "iqm": (low, high)}``
    """
    from rliable import library, metrics

    np.random.seed(seed)
    _, intervals = library.get_interval_estimates(
        {"x": scores},
        lambda x: np.array([metrics.aggregate_median(x), metrics.aggregate_iqm(x)]),
        reps=reps,
    )
    (low_median, low_iqm), (high_median, high_iqm) = intervals["x"]
    return {"median": (float(low_median), float(high_median)), "iqm": (float(low_iqm), float(high_iqm))}


def collect_scores(out: str | os.PathLike, config: CampaignConfig) -> dict[str, dict[int, GameScore]]:
    """
    :param out: The campaign folder
    :param config: Its configuration
    :return: Game key -> agent steps -> the game's evaluations there (Table 1 games only; steps every seed reached)
    """
    found: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for run in campaign_runs(out, config):
        game = paper_game(run.env_id)
        if game is None:
            continue
        for steps, path in run.evaluations():
            data = json.loads(path.read_text())
            found.setdefault(game.key, {}).setdefault(steps, []).append(data)
    scores: dict[str, dict[int, GameScore]] = {}
    for key, by_steps in found.items():
        for steps, runs in by_steps.items():
            if len(runs) == len(config.seeds):
                scores.setdefault(key, {})[steps] = GameScore(TABLE1[key], steps, runs)
    return scores


def budgets(config: CampaignConfig) -> list[int]:
    """:return: The budgets the report has a row for: the milestones and every run's total"""
    return sorted(set(config.milestones) | set(config.targets.values()))


def _games(config: CampaignConfig) -> list[PaperGame]:
    keys = {game.key for game in (paper_game(env_id) for env_id in config.games) if game is not None}
    return [game for key, game in TABLE1.items() if key in keys]


def _cell(value: float | None) -> str:
    return "-" if value is None else format_score(round(value, 2))


def _range(low: float | None, high: float | None) -> str:
    separator = " to " if low is not None and low < 0 else "-"
    return f"{_cell(low)}{separator}{_cell(high)}"


def _row(label: str, cells: Sequence[str]) -> str:
    return "| " + " | ".join([label, *cells]) + " |"


def table1_markdown(config: CampaignConfig, scores: dict[str, dict[int, GameScore]]) -> str:
    """
    Table 1's layout: the paper's average-reward rows with this project's row at each budget, then the paper's
    best-single-episode rows with this project's best game at each budget.

    :param config: The campaign's configuration
    :param scores: :func:`collect_scores`
    :return: The Markdown table
    """
    games = _games(config)
    header = _row("", [game.title for game in games]) + "\n" + _row("---", ["---:"] * len(games))
    rows = []
    for method, label in (("random", "Random"), ("sarsa", "Sarsa"), ("contingency", "Contingency")):
        rows.append(_row(label, [format_score(getattr(game, method)) for game in games]))
    rows.append(_row("DQN (the paper, 10M frames)", [format_score(game.dqn) for game in games]))
    for budget in budgets(config):
        cells = [_cell(scores.get(game.key, {}).get(budget) and scores[game.key][budget].mean()) for game in games]
        rows.append(_row(f"**sb3-dqn-paper, {budget:,} agent steps**", cells))
    rows.append(_row("sb3-dqn-paper, latest evaluation (agent steps)", [_latest_cell(scores, game) for game in games]))
    rows.append(_row("Human", [format_score(game.human) for game in games]))
    rows.append(_row("HNeat Best", [format_score(game.hneat_best) for game in games]))
    rows.append(_row("HNeat Pixel", [format_score(game.hneat_pixel) for game in games]))
    rows.append(_row("DQN Best (the paper)", [format_score(game.dqn_best) for game in games]))
    for budget in budgets(config):
        cells = [_cell(scores.get(game.key, {}).get(budget) and scores[game.key][budget].best()) for game in games]
        rows.append(_row(f"**sb3-dqn-paper Best, {budget:,} agent steps**", cells))
    return header + "\n" + "\n".join(rows)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _latest_cell(scores: dict[str, dict[int, GameScore]], game: PaperGame) -> str:
    by_steps = scores.get(game.key)
    if not by_steps:
        return "-"
    steps = max(by_steps)
    return f"{_cell(by_steps[steps].mean())} ({steps / 1000:,.0f}k)"


def detail_markdown(config: CampaignConfig, scores: dict[str, dict[int, GameScore]]) -> str:
    """
    Every evaluation: average (min-max) of the unclipped and of the clipped score, games, and the held-out measures
    (average max Q, inactive units of the last hidden layer), per game and budget.

    :param config: The campaign's configuration
    :param scores: :func:`collect_scores`
    :return: The Markdown table
    """
    lines = [
        "| game | agent steps | average (min-max), unclipped | clipped | games | average max Q, held-out | inactive units |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    for game in _games(config):
        for steps, score in sorted(scores.get(game.key, {}).items()):
            unclipped = f"{_cell(score.mean())} ({_range(score.worst(), score.best())})"
            clipped = f"{_cell(score.mean(True))} ({_range(score.worst(True), score.best(True))})"
            held_out = f"{_q_cell(score.average_max_q())} | {score.inactive_units()}"
            lines.append(f"| {game.title} | {steps:,} | {unclipped} | {clipped} | {score.n_games} | {held_out} |")
    return "\n".join(lines)


def _q_cell(value: float | None) -> str:
    """An average max Q: 4 significant digits below 1,000, whole numbers above (diverged ones); ``-``: not measured."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


#: The column of Dopamine's per-iteration training returns in the same-budget tables
DOPAMINE_COLUMN = "Dopamine DQN (RMSProp), training return of the last 250k steps, mean of 5 seeds (lowest-highest)"


def reference_cells(game: PaperGame, budget: int) -> dict[str, str]:
    """
    :param game: A Table 1 game
    :param budget: Agent steps
    :return: Each same-budget reference's number for the game at exactly that budget (absent where none)
    """
    cells = {}
    iteration = budget // DOPAMINE_ITERATION_STEPS - 1
    if budget % DOPAMINE_ITERATION_STEPS == 0 and iteration in DOPAMINE_PER_ITERATION.get(game.key, {}):
        lowest, highest = DOPAMINE_SEED_RANGE[game.key][iteration]
        cells[DOPAMINE_COLUMN] = f"{format_score(DOPAMINE_PER_ITERATION[game.key][iteration])} ({_range(lowest, highest)})"
    for reference in BUDGET_REFERENCES:
        value = reference.scores.get(budget, {}).get(game.key)
        if value is not None:
            low, high = value
            text = format_score(low) if low == high else f"{format_score(low)}-{format_score(high)}"
            cells[f"{reference.name}, {reference.measure}"] = text
    return cells


def references_markdown(config: CampaignConfig, scores: dict[str, dict[int, GameScore]], budget: int) -> str:
    """
    :param config: The campaign's configuration
    :param scores: :func:`collect_scores`
    :param budget: Agent steps
    :return: The same-budget table at ``budget``: this project's evaluation beside every reference there
    """
    games = _games(config)
    columns: list[str] = []
    for game in games:
        for name in reference_cells(game, budget):
            if name not in columns:
                columns.append(name)
    lines = [
        "| game | sb3-dqn-paper (evaluation, epsilon 0.05) | " + " | ".join(columns) + " | Table 1: DQN |",
        "| --- | ---: | " + " | ".join("---:" for _ in columns) + " | ---: |",
    ]
    for game in games:
        score = scores.get(game.key, {}).get(budget)
        cells = reference_cells(game, budget)
        lines.append(
            f"| {game.title} | {_cell(score.mean() if score else None)} | "
            + " | ".join(cells.get(name, "-") for name in columns)
            + f" | {format_score(game.dqn)} |"
        )
    return "\n".join(lines)


def normalised_summary(config: CampaignConfig, scores: dict[str, dict[int, GameScore]], budget: int) -> dict[str, Any] | None:
    """
    Human-normalised scores at ``budget``, per game and aggregated over the games evaluated there.

    :param config: The campaign's configuration
    :param scores: :func:`collect_scores`
    :param budget: Agent steps
    :return: ``{"games", "per_game", "per_game_paper", "median", "iqm", "median_ci", "iqm_ci", "interval"}``, or
        ``None`` if no game has a completed evaluation game at ``budget``
    """
    present = [
        (game, scores[game.key][budget])
        for game in _games(config)
        if budget in scores.get(game.key, {}) and scores[game.key][budget].mean() is not None
    ]
    if not present:
        return None
    keys = [game.key for game, _ in present]
    seeds = min(len(score.seed_means()) for _, score in present)
    matrix = np.array([[human_normalised(score.seed_means()[i], game.key) for game, score in present] for i in range(seeds)])
    if seeds > 1:
        intervals = bootstrap_over_runs(matrix)
        interval = f"rliable's stratified bootstrap over {seeds} seeds per game"
    else:
        intervals = bootstrap_over_games_episodes([score.episodes()[0] for _, score in present], keys)
        interval = "one seed per game: the intervals come from resampling each game's evaluation games alone"
    return {
        "games": keys,
        "per_game": {game.key: human_normalised(score.mean(), game.key) for game, score in present},  # type: ignore[arg-type]
        "per_game_paper": {game.key: human_normalised(score.mean(), game.key, "paper") for game, score in present},  # type: ignore[arg-type]
        "median": aggregate_median(matrix),
        "iqm": aggregate_iqm(matrix),
        "median_ci": intervals["median"],
        "iqm_ci": intervals["iqm"],
        "interval": interval,
    }


def evaluated_budgets(scores: dict[str, dict[int, GameScore]]) -> list[int]:
    """:return: Every budget at which some game has an evaluation, ascending"""
    return sorted({steps for by_steps in scores.values() for steps in by_steps})


def normalised_summaries(config: CampaignConfig, scores: dict[str, dict[int, GameScore]]) -> dict[int, dict[str, Any]]:
    """:return: :func:`normalised_summary` at every evaluated budget that has one (each bootstraps once)"""
    summaries = {budget: normalised_summary(config, scores, budget) for budget in evaluated_budgets(scores)}
    return {budget: summary for budget, summary in summaries.items() if summary is not None}


def normalised_markdown(config: CampaignConfig, summaries: dict[int, dict[str, Any]]) -> str:
    """
    :param config: The campaign's configuration
    :param summaries: :func:`normalised_summaries`
    :return: One row per budget: each game's human-normalised score, the median and the IQM with intervals
    """
    games = _games(config)
    lines = [
        "| agent steps | " + " | ".join(game.title for game in games) + " | games | median [95 % CI] | IQM [95 % CI] |",
        "| ---: | " + " | ".join("---:" for _ in games) + " | ---: | --- | --- |",
    ]
    notes = set()
    for budget, summary in summaries.items():
        notes.add(summary["interval"])
        cells = [_ratio(summary["per_game"].get(game.key)) for game in games]
        median = f"{summary['median']:.3f} [{summary['median_ci'][0]:.3f}, {summary['median_ci'][1]:.3f}]"
        iqm = f"{summary['iqm']:.3f} [{summary['iqm_ci'][0]:.3f}, {summary['iqm_ci'][1]:.3f}]"
        lines.append(f"| {budget:,} | " + " | ".join(cells) + f" | {len(summary['games'])} | {median} | {iqm} |")
    return "\n".join(lines) + "".join(f"\n\nIntervals: {note}." for note in sorted(notes))


def export_latest_agents(out: str | os.PathLike, config: CampaignConfig, folder: str | os.PathLike) -> list[str]:
    """
    Export each run's latest evaluated model into ``folder`` in rl-zoo3's layout (``zoo.export``), as run
    ``<EnvId>_<k>`` for the k-th seed. An agent already there with more agent steps is left as it is, and so is one
    exported from this very model file (the same ``source_sha256``) or one with the same agent steps and the same
    policy weights, bit for bit (a run that repeated it, such as Breakout's 1M run, whose files are kept); one with as
    many agent steps and other weights (an earlier campaign's) is replaced, as the README and the combined Table 1
    take the latest campaign among equals.

    :param out: The campaign folder
    :param config: Its configuration
    :param folder: The agents folder (``rl_zoo3.enjoy -f``)
    :return: The written run folders
    """
    from sb3_dqn_paper.tools.export import AGENT_INFO_FILE, export_agent, file_sha256

    written = []
    for run in campaign_runs(out, config):
        latest = _latest_model(run)
        if latest is None:
            continue
        steps, model = latest
        run_id = config.seeds.index(run.seed) + 1
        env_name = run.env_id.replace("/", "-")
        info_file = pathlib.Path(folder) / "paper_dqn" / f"{env_name}_{run_id}" / env_name / AGENT_INFO_FILE
        if info_file.is_file():
            shipped = json.loads(info_file.read_text())
            shipped_steps = int(shipped.get("num_timesteps", 0))
            if shipped_steps > steps:
                continue
            if shipped_steps == steps and (
                shipped.get("source_sha256") == file_sha256(model)
                or _same_policy(info_file.parent.parent / f"{env_name}.zip", model)
            ):
                continue
        written.append(export_agent(str(model), str(folder), run.env_id, run_id=run_id, overwrite=True))
    return written


def _same_policy(first: pathlib.Path, second: pathlib.Path) -> bool:
    """:return: Whether two SB3 model files hold the same policy tensors, bit for bit (read from the zips, no model built)"""
    import torch as th
    from stable_baselines3.common.save_util import load_from_zip_file

    if not first.is_file():
        return False
    policies = [load_from_zip_file(path, device="cpu", load_data=False)[1]["policy"] for path in (first, second)]
    return policies[0].keys() == policies[1].keys() and all(th.equal(policies[0][k], policies[1][k]) for k in policies[0])


def _latest_model(run: Run) -> tuple[int, pathlib.Path] | None:
    models = dict(run.models())
    evaluated = [steps for steps, _ in run.evaluations() if steps in models]
    return (max(evaluated), models[max(evaluated)]) if evaluated else None


def games_line(config: CampaignConfig) -> str:
    """:return: The report's line on the games, seeds, budgets and evaluation protocol of ``config``"""
    return (
        f"Games: {', '.join(config.games)}; seeds {', '.join(map(str, config.seeds))}; budgets (agent steps, 4 emulator "
        f"frames each, 3 for Space Invaders): {', '.join(f'{b:,}' for b in budgets(config))}. Evaluation: the paper's "
        f"protocol, epsilon 0.05 for {config.eval_steps:,} agent steps, whole games, unclipped score. `-`: not reached."
    )


def report_files(
    config: CampaignConfig,
    scores: dict[str, dict[int, GameScore]],
    report_out: pathlib.Path,
    head: list[str],
    after_table: Sequence[str] = (),
    extra_data: dict[str, Any] | None = None,
) -> dict[pathlib.Path, bytes]:
    """
    The report's Markdown and JSON files: ``head``, Table 1's layout, ``after_table``, every evaluation, the
    same-budget references and the human-normalised scores.

    :param config: The configuration the games and budgets come from
    :param scores: :func:`collect_scores`
    :param report_out: The report's folder
    :param head: The lines before the table (title, what was run)
    :param after_table: Lines between the table and every evaluation
    :param extra_data: More entries for ``table1.json``
    :return: ``{path: contents}`` of ``table1.md`` and ``table1.json``
    """
    sections = [
        *head,
        "",
        table1_markdown(config, scores),
        "",
        *after_table,
        "## Every evaluation",
        "",
        "Scores under the paper's protocol; beside them the average max Q over 1,000 held-out random-play states (the "
        "paper's average action value, Figure 2; rewards are clipped to [-1, 1], so no return exceeds 1 / (1 - gamma), "
        "100 at the default gamma 0.99) and the units of the last hidden layer that are zero on every one of those states.",
        "",
        detail_markdown(config, scores),
        "",
        "## Same-budget references",
        "",
    ]
    summaries = normalised_summaries(config, scores)
    for budget in sorted(set(evaluated_budgets(scores)) & set(_reference_budgets())):
        sections += [f"### {budget:,} agent steps", "", references_markdown(config, scores, budget), ""]
    sections += [
        "## Human-normalised scores",
        "",
        "(score - random) / (human - random), with DeepMind's dqn_zoo random and human scores.",
        "",
        normalised_markdown(config, summaries),
        "",
    ]
    files: dict[pathlib.Path, bytes] = {report_out / REPORT_FILE: "\n".join(sections).encode()}
    data = {
        game: {
            str(steps): {
                "mean": score.mean(),
                "best": score.best(),
                "worst": score.worst(),
                "clipped_mean": score.mean(True),
                "n_games": score.n_games,
                "average_max_q": score.average_max_q(),
                "inactive_units": score.inactive_units(),
            }
            for steps, score in sorted(by_steps.items())
        }
        for game, by_steps in scores.items()
    }
    normalised = {str(budget): summary for budget, summary in summaries.items()}
    contents = {"scores": data, "normalised": normalised, **(extra_data or {})}
    files[report_out / REPORT_DATA_FILE] = (json.dumps(contents, indent=2) + "\n").encode()
    return files


def write_campaign_report(
    out: str | os.PathLike, config: CampaignConfig, report_out: str | os.PathLike, agents: str | os.PathLike | None = None
) -> list[str]:
    """
    Write ``table1.md`` and ``table1.json``, the learning curves, and the agents.

    :param out: The campaign folder
    :param config: Its configuration
    :param report_out: The report's folder
    :param agents: Where the agents go (default ``report_out/agents``)
    :return: The files and folders written
    """
    from sb3_dqn_paper.tools.report import write_report

    report_out = pathlib.Path(report_out)
    scores = collect_scores(out, config)
    title = "# Table 1 of Mnih et al. (2013): this campaign beside the paper"
    campaign = campaign_runs(out, config)
    records = {run.name: read_records(run.folder / "segments") for run in campaign}
    runs = [(name, run_records) for name, run_records in records.items() if run_records]
    segments = (
        []
        if not runs
        else [
            "## Training segments",
            "",
            "Where and when each training segment ran, as `campaign run` recorded it (`segments/NNN.json` of each run; "
            "segments started by a version without these records are not listed). Agent steps: of the checkpoint it "
            "resumed, and of the newest sound checkpoint when it ended; code: a hash of the package's files.",
            "",
            segments_markdown(runs),
            "",
        ]
    )
    files = report_files(config, scores, report_out, [title, "", games_line(config)], after_table=segments)
    atomic_write_files(files)
    written = [str(path) for path in files]
    # Training games at the agent steps the segments' records give; a run begun without records, at frames / k
    placed, counted = [], []
    for run in campaign:
        games = placed_run(run.folder, run.env_id, records[run.name])
        if games is None:
            counted.append(run.folder)
        else:
            placed.append(games)
    paths = [str(path) for path in (*counted, pathlib.Path(out) / "evals") if path.is_dir()]
    if paths or placed:
        pngs, _ = write_report(paths, str(report_out / "curves"), placed_runs=placed)
        written += pngs
    written += export_latest_agents(out, config, agents if agents is not None else report_out / "agents")
    return written


def _reference_budgets() -> list[int]:
    steps = {DOPAMINE_ITERATION_STEPS * (index + 1) for values in DOPAMINE_PER_ITERATION.values() for index in values}
    for reference in BUDGET_REFERENCES:
        steps.update(reference.scores)
    return sorted(steps)
