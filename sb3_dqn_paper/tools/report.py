"""
Learning curves and a results table against the paper's Table 1, from training logs and evaluation files.

Inputs, found under each path given (folders are searched recursively):

- SB3 ``Monitor`` logs (``*.monitor.csv``): rl-zoo3 writes them as ``logs/<algo>/<EnvId>_<run>/0.monitor.csv``, SB3's
  ``make_vec_env(monitor_dir=...)`` as ``<dir>/<rank>.monitor.csv``. All the Monitor files of one folder are one
  run (one seed; several files when it used several envs) and are merged with SB3's ``load_results``. The env id
  comes from the Monitor header, else from an rl-zoo3 folder name. An rl-zoo3 run resumed with
  ``-i rl_model_<N>_steps.zip`` (a new folder) is joined to the run it continues, its games shifted by ``N`` agent
  steps.
- Evaluation results written by ``python -m sb3_dqn_paper.tools.evaluate ... --out FILE.json``.

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
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from sb3_dqn_paper.atomic_io import atomic_write_files
from sb3_dqn_paper.errors import InvalidArgumentError, MissingFileError
from sb3_dqn_paper.tools.common import format_score, run_tool
from sb3_dqn_paper.tools.evaluate import RESULT_FORMAT_VERSION, RESULT_KIND
from sb3_dqn_paper.tools.plots import auto_window, env_file_name, plot_env
from sb3_dqn_paper.tools.run_folder import MonitorRun, join_resumed_runs, load_monitor_run
from sb3_dqn_paper.tools.table1 import (
    PaperGame,
    paper_game,
)

#: Name of the Markdown file written to ``--out``.
TABLE_FILE = "results.md"


# rl-zoo3 run folders: "<EnvId>_<run id>", optionally followed by "_<uuid>"
# Checkpoints of --save-freq: "<prefix>_<agent steps>_steps.zip"
def load_evaluation(path: str, named: bool = False) -> dict[str, Any] | None:
    """
    Read a result file of ``sb3_dqn_paper.tools.evaluate``.

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
                "Write it again with python -m sb3_dqn_paper.tools.evaluate ... --out FILE"
            ) from error
        return None
    if not isinstance(data, dict) or data.get("kind") != RESULT_KIND:
        if named:
            raise InvalidArgumentError(
                f"{path} is not an evaluation file of python -m sb3_dqn_paper.tools.evaluate (no kind {RESULT_KIND!r})"
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
            "Write it again with python -m sb3_dqn_paper.tools.evaluate ... --out FILE"
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

    :param evaluations: Results of ``sb3_dqn_paper.tools.evaluate``
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


def training_table(runs: Sequence[MonitorRun], window: int | None = None, budget: str = "Monitor frames / frame skip") -> str:
    """
    One Markdown row per env of the training logs: the average of each run's last games, beside Table 1.

    :param runs: Monitor runs
    :param window: Games averaged at the end of each run; ``None`` for :func:`auto_window`
    :param budget: How the runs' agent steps were found, for the budget column's header
    :return: The table
    """
    header = [
        "Game",
        "Env id",
        "Runs",
        f"Budget ({budget})",
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
    paths: Sequence[str],
    out: str,
    window: int | None = None,
    frame_skip: int | None = None,
    placed_runs: Sequence[MonitorRun] = (),
) -> tuple[list[str], str]:
    """
    Write one PNG per env and the Markdown tables.

    :param paths: Log folders, Monitor files or evaluation files
    :param out: Output folder (created if needed; the report's own files in it are replaced)
    :param window: Smoothing window in games; ``None`` for :func:`auto_window`
    :param frame_skip: Monitor steps per agent step; ``None`` for the paper's per-game value
    :param placed_runs: Runs whose games are already at exact agent steps (a campaign's, placed by its records:
        :func:`sb3_dqn_paper.tools.campaign.training_games.placed_run`), drawn and tabled beside those under ``paths``
    :return: The PNG paths and the Markdown text
    :raises InvalidArgumentError: when nothing is found, or for bad settings
    :raises SaveError: when a file cannot be written (then none of the report's files is changed)
    """
    if window is not None and window < 1:
        raise InvalidArgumentError(f"--window must be at least 1 game, got {window}")
    if frame_skip is not None and frame_skip < 1:
        raise InvalidArgumentError(f"--frame-skip must be at least 1, got {frame_skip}")
    found, evaluations = collect_inputs(paths, frame_skip) if paths else ([], [])
    runs = [*found, *placed_runs]
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
        png = os.path.join(out, f"{env_file_name(env_id)}.png")
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
        budget, how = _budget_header(found, placed_runs)
        sections += [
            "## Training (Monitor logs, unclipped score of the training games)",
            "",
            f"Budget: agent steps covered by the completed training games ({how}). These games are "
            "played with the training epsilon, so they are not the paper's protocol.",
            "",
            training_table(runs, window, budget),
            "",
        ]
    markdown = "\n".join(sections)
    files[os.path.join(out, TABLE_FILE)] = markdown.encode()
    atomic_write_files(files)
    return pngs, markdown


def _budget_header(found: Sequence[MonitorRun], placed_runs: Sequence[MonitorRun]) -> tuple[str, str]:
    """
    :param found: The runs read from the log folders (placed by their final models where they have them)
    :param placed_runs: The runs placed by a campaign's records
    :return: The training table's budget header and the sentence saying how the runs' agent steps were found
    """
    counted = [run for run in found if not run.exact]
    ways = []
    if placed_runs:
        ways.append("each campaign segment's games placed between the agent steps its record gives")
    if len(counted) < len(found):
        ways.append("each rl-zoo3 run's games placed between the agent steps it started at and those of its final model")
    if not ways:
        return "Monitor frames / frame skip", "Monitor frames / frame skip"
    if not counted:
        return "agent steps", "; ".join(ways)
    return "agent steps or Monitor frames / frame skip", "; ".join([*ways, "other runs: Monitor frames / frame skip"])


def make_parser() -> argparse.ArgumentParser:
    """:return: The command-line parser of ``python -m sb3_dqn_paper.tools.report``"""
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.report",
        description="Learning curves (one PNG per game) and a Markdown table against the paper's Table 1, "
        "from SB3/rl-zoo3 Monitor logs and sb3_dqn_paper.tools.evaluate result files.",
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


def run(args: argparse.Namespace) -> int:
    """
    Write the report of the parsed command line and print its tables.

    :param args: The parsed command line (:func:`make_parser`)
    :return: Exit status 0 (a refusal raises; :func:`main` turns it into status 2)
    """
    pngs, markdown = write_report(args.paths, args.out, args.window, args.frame_skip)
    print(markdown)
    for png in pngs:
        print(f"wrote {png}")
    print(f"wrote {os.path.join(args.out, TABLE_FILE)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of ``python -m sb3_dqn_paper.tools.report``: exit status 0, or 2 on bad input."""
    return run_tool(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
