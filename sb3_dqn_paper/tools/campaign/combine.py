"""
``campaign combine``: one Table 1 from several campaigns.

A campaign lives on one machine; when the machine is replaced, a new campaign starts and the games it reaches are
spread over several campaign folders. ``combine`` takes each game from the campaign whose run of it went furthest
(the highest evaluated budget; between equals, the campaign named last), never mixing two runs of one game, and
writes the report of :mod:`~sb3_dqn_paper.tools.campaign.table` (Table 1's layout, every evaluation, the same-budget
references, the human-normalised scores) with a table of where each game comes from. Learning curves and agents
stay with each campaign's own report.
"""

import dataclasses
import os
import pathlib
from collections.abc import Sequence

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.campaign.config import CONFIG_FILE, CampaignConfig, read_config
from sb3_dqn_paper.tools.campaign.table import GameScore, budgets, collect_scores, report_files
from sb3_dqn_paper.tools.table1 import TABLE1, paper_game


@dataclasses.dataclass
class GameSource:
    """
    Where a combined report takes one game from.

    :param folder: The campaign folder, as given
    :param scores: The game's evaluations there, by agent steps
    """

    folder: str
    scores: dict[int, GameScore]


def read_campaigns(folders: Sequence[str | os.PathLike]) -> list[tuple[str, CampaignConfig]]:
    """
    :param folders: Campaign folders (or their landed ``data/`` copies)
    :return: Each folder with its configuration, in the order given
    :raises InvalidArgumentError: for no folder, a folder given twice, a folder that is not a campaign, or campaigns
        whose seeds or evaluation length differ (their scores would not be comparable)
    """
    if not folders:
        raise InvalidArgumentError("combine needs at least one campaign folder")
    names = [str(folder) for folder in folders]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InvalidArgumentError(f"campaign folder given twice: {', '.join(twice)}")
    campaigns = []
    for name in names:
        config = read_config(name)
        if config is None:
            raise InvalidArgumentError(f"{name} is not a campaign folder (no {CONFIG_FILE})")
        campaigns.append((name, config))
    for field, label in (("seeds", "seeds"), ("eval_steps", "evaluation steps")):
        values = {name: getattr(config, field) for name, config in campaigns}
        if len({str(value) for value in values.values()}) > 1:
            listed = "; ".join(f"{name}: {value}" for name, value in values.items())
            raise InvalidArgumentError(f"the campaigns' {label} differ, so their scores are not comparable ({listed})")
    return campaigns


def choose_sources(campaigns: Sequence[tuple[str, CampaignConfig]]) -> dict[str, GameSource]:
    """
    :param campaigns: :func:`read_campaigns`
    :return: Table 1 game key -> the campaign whose run of it reached the highest evaluated budget (the last named
        among equals), in Table 1's order; games no campaign evaluated are absent
    """
    chosen: dict[str, GameSource] = {}
    for folder, config in campaigns:
        for key, by_steps in collect_scores(folder, config).items():
            if key not in chosen or max(by_steps) >= max(chosen[key].scores):
                chosen[key] = GameSource(folder, by_steps)
    return {key: chosen[key] for key in TABLE1 if key in chosen}


def combined_config(campaigns: Sequence[tuple[str, CampaignConfig]]) -> CampaignConfig:
    """
    :param campaigns: :func:`read_campaigns`
    :return: A configuration for the report: every campaign's games (a column each, evaluated or not), milestones
        and targets
    """
    targets: dict[str, int] = {}
    for _, config in campaigns:
        targets.update(config.targets)
    return dataclasses.replace(
        campaigns[0][1],
        games=list(dict.fromkeys(game for _, config in campaigns for game in config.games)),
        milestones=sorted({milestone for _, config in campaigns for milestone in config.milestones}),
        targets=targets,
    )


def write_combined_report(folders: Sequence[str | os.PathLike], report_out: str | os.PathLike) -> list[str]:
    """
    Write ``table1.md`` and ``table1.json`` of the campaigns ``folders`` together into ``report_out`` (the JSON names
    each game's campaign under ``"sources"``).

    :param folders: Campaign folders, oldest first
    :param report_out: The report's folder
    :return: The files written
    """
    campaigns = read_campaigns(folders)
    sources = choose_sources(campaigns)
    if not sources:
        raise InvalidArgumentError(f"no Table 1 game has an evaluation in {', '.join(map(str, folders))}")
    config = combined_config(campaigns)
    scores = {key: source.scores for key, source in sources.items()}
    head = [
        "# Table 1 of Mnih et al. (2013): the campaigns together, beside the paper",
        "",
        f"Each game from the one campaign whose run of it went furthest ({len(campaigns)} campaigns read; where each "
        "game comes from is below the table). Every run: the paper's defaults, seed "
        f"{', '.join(map(str, config.seeds))}; budgets (agent steps, 4 emulator frames each, 3 for Space Invaders): "
        f"{', '.join(f'{b:,}' for b in budgets(config))}. Evaluation: the paper's protocol, epsilon 0.05 for "
        f"{config.eval_steps:,} agent steps, whole games, unclipped score. `-`: not reached, or no campaign ran the game.",
    ]
    lines = ["## Where each game comes from", "", "| game | campaign | evaluated at (agent steps) |", "| --- | --- | --- |"]
    for key, source in sources.items():
        lines.append(f"| {TABLE1[key].title} | `{source.folder}` | {', '.join(f'{s:,}' for s in sorted(source.scores))} |")
    columns = {game.key for game in map(paper_game, config.games) if game is not None}
    missing = [game.title for key, game in TABLE1.items() if key in columns and key not in sources]
    if missing:
        lines += ["", f"No evaluation in any of these campaigns: {', '.join(missing)}."]
    sources_data = {"sources": {key: source.folder for key, source in sources.items()}}
    files = report_files(config, scores, pathlib.Path(report_out), head, [*lines, ""], sources_data)
    atomic_write_files(files)
    return [str(path) for path in files]
