"""
The documentation holds together: every relative link in README.md, CHANGELOG.md and docs/*.md points at a file (and
heading) that exists, every ``python -m`` command the docs name runs ``--help``, the docs' Table 1 is the code's, and
the trained agents' scores in the README, on the results page and in agents/README.md are the ones in their evaluation
files.
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from sb3_dqn_paper.tools.table1 import (
    CLEANRL_CURVE_POINTS,
    DOPAMINE_ITERATION_STEPS,
    DOPAMINE_PER_ITERATION,
    DOPAMINE_SEED_RANGE,
    TABLE1,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[^\n]*$", re.MULTILINE | re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
MODULE_COMMAND = re.compile(r"python -m ((?:sb3_dqn_paper|rl_zoo3)(?:\.[a-z_][a-z0-9_]*)*)(?![\w.])")
# rl-zoo3 commands whose --algo choices must list the registered algorithm
ALGO_CHOICE_COMMANDS = {"rl_zoo3.train", "rl_zoo3.enjoy", "rl_zoo3.record_video"}


def split_code(text: str) -> tuple[str, list[str]]:
    """
    :param text: A Markdown document
    :return: The text outside fenced code blocks and HTML comments, and the fenced blocks themselves
    """
    blocks = [match.group(0) for match in FENCE.finditer(text)]
    prose = HTML_COMMENT.sub("", FENCE.sub("", text))
    return prose, blocks


def github_slug(heading: str) -> str:
    """
    The anchor GitHub gives a Markdown heading: the rendered text in lower case, every character that is not a
    letter, digit, space, hyphen or underscore removed, spaces turned into hyphens.

    :param heading: The heading's Markdown source, without the leading ``#``
    :return: The anchor, without ``#`` and without the ``-1``, ``-2`` suffix of repeated headings
    """
    text = INLINE_CODE.sub(r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link renders as its text
    text = text.replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: pathlib.Path) -> set[str]:
    """
    :param path: A Markdown file
    :return: The anchors of all its headings, repeated headings numbered as GitHub numbers them
    """
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    result = set()
    for match in HEADING.finditer(prose):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        result.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return result


def relative_links(path: pathlib.Path) -> list[str]:
    """
    :param path: A Markdown file
    :return: The targets of its links and images that are not URLs (``http:``, ``mailto:``, ...)
    """
    prose, _ = split_code(path.read_text(encoding="utf-8"))
    prose = INLINE_CODE.sub("code", prose)
    targets = [match.group(1) for match in LINK.finditer(prose)]
    return [target for target in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def broken_links(path: pathlib.Path) -> list[str]:
    """
    :param path: A Markdown file
    :return: One line per relative link whose file, or whose ``#anchor`` in a Markdown file, does not exist
    """
    problems = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.name}: {target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{path.name}: {target}: no heading with anchor #{anchor} in {linked.name}")
    return problems


def named_modules() -> list[str]:
    """
    :return: The distinct ``sb3_dqn_paper`` and ``rl_zoo3`` modules that a ``python -m`` command in a fenced code
        block or an inline code span of the docs runs
    """
    modules = set()
    for path in DOC_FILES:
        prose, blocks = split_code(path.read_text(encoding="utf-8"))
        for code in [*blocks, *INLINE_CODE.findall(prose)]:
            modules.update(MODULE_COMMAND.findall(code))
    return sorted(modules)


def test_github_slug() -> None:
    assert github_slug("Speed: PaperDQN against SB3's DQN on the same work") == (
        "speed-paperdqn-against-sb3s-dqn-on-the-same-work"
    )
    assert github_slug("`sb3_dqn_paper.evaluate`: the paper's protocol") == "sb3_dqn_paperevaluate-the-papers-protocol"
    assert github_slug("The paper's 1M replay memory in 7.1 GB: `FrameStackReplayBuffer`") == (
        "the-papers-1m-replay-memory-in-71-gb-framestackreplaybuffer"
    )
    assert github_slug("[Docs](index.md) and *emphasis*") == "docs-and-emphasis"


def test_the_checker_finds_broken_links(tmp_path: pathlib.Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A section\n\n## A section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md) [ok](other.md#a-section) [ok](other.md#a-section-1) [ok](#page) [url](https://example.com/x)\n"
        "[missing file](nothing.md) [missing anchor](other.md#no-such-section) [missing here](#nowhere)\n"
        "`[in code](not-a-link.md)`\n\n```\n[in a block](not-a-link-either.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert [p.split(": ")[1] for p in problems] == ["nothing.md", "other.md#no-such-section", "#nowhere"]


def test_docs_pages_exist_and_are_linked_from_the_index() -> None:
    expected = {"index", "algorithm", "zoo", "tools", "replay-buffer", "checkpoints", "benchmarks", "errors", "results"}
    assert expected <= {path.stem for path in DOC_FILES}
    index_links = {target.partition("#")[0] for target in relative_links(ROOT / "docs" / "index.md")}
    assert {f"{name}.md" for name in expected - {"index"}} <= index_links


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(path: pathlib.Path) -> None:
    assert broken_links(path) == []


def test_readme_is_a_landing_page() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_no_reference_outside_the_repository() -> None:
    # built from parts so that this file does not match itself
    forbidden = ("../" + "shared", "PAPER" + ".md")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    files = [ROOT / name for name in tracked] or [*DOC_FILES, *ROOT.glob("sb3_dqn_paper/**/*.py")]
    hits = []
    for path in files:
        if path.is_file() and path.suffix in {".md", ".py", ".yml", ".toml", ".txt", ""}:
            text = path.read_text(encoding="utf-8", errors="replace")
            hits += [f"{path.relative_to(ROOT)}: {word}" for word in forbidden if word in text]
    assert hits == []


def test_table1_in_the_docs_is_the_code_table() -> None:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = text.split("## Table 1 of the paper", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    titles = header[1:]
    assert titles == [game.title for game in TABLE1.values()]
    labels = {
        "Random": "random",
        "Sarsa": "sarsa",
        "Contingency": "contingency",
        "DQN (average)": "dqn",
        "Human": "human",
        "HNeat Best": "hneat_best",
        "HNeat Pixel": "hneat_pixel",
        "DQN Best (single episode)": "dqn_best",
    }
    seen = set()
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        method = labels[cells[0]]
        seen.add(method)
        for game, value in zip(TABLE1.values(), cells[1:], strict=True):
            assert float(value) == getattr(game, method), (cells[0], game.title)
    assert seen == set(labels.values())


def test_same_budget_references_in_the_docs_are_the_code_tables() -> None:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = text.split("### Dopamine DQN per iteration", 1)[1].split("\n### ", 1)[0]
    means, ranges = (
        [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")]
        for table in section.split("\n\n")
        if table.startswith("| ")
    )
    iterations = [int(cell) for cell in means[0][1:]]
    steps = [float(cell.rstrip("M")) * 1e6 for cell in means[2][1:]]
    assert steps == [(index + 1) * DOPAMINE_ITERATION_STEPS for index in iterations]
    titles = {game.title: key for key, game in TABLE1.items()}
    seen = {}
    for cells in means[3:]:
        seen[titles[cells[0]]] = dict(zip(iterations, (float(cell) for cell in cells[1:]), strict=True))
    assert seen == DOPAMINE_PER_ITERATION
    # the seeds' lowest and highest: the code's table, each around its mean
    assert [int(cell) for cell in ranges[0][1:]] == iterations
    seen_ranges = {}
    for cells in ranges[2:]:
        pairs = [re.fullmatch(r"(-?[\d.]+)(?:-| to )(-?[\d.]+)", cell).groups() for cell in cells[1:]]
        seen_ranges[titles[cells[0]]] = dict(zip(iterations, ((float(low), float(high)) for low, high in pairs), strict=True))
    assert seen_ranges == DOPAMINE_SEED_RANGE
    for game, by_iteration in DOPAMINE_SEED_RANGE.items():
        for iteration, (lowest, highest) in by_iteration.items():
            assert lowest <= DOPAMINE_PER_ITERATION[game][iteration] <= highest, (game, iteration)
    section = text.split("### CleanRL at 1M and 2M agent steps", 1)[1].split("\n### ", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    for cells in rows[2:]:
        steps = int(float(cells[0].rstrip("M")) * 1e6)
        for game, cell in zip(("Pong", "Breakout"), cells[1:], strict=True):
            match = re.fullmatch(r"about (-?[\d.]+)(?:-([\d.]+))?", cell)
            assert match is not None, cell
            low, high = float(match.group(1)), float(match.group(2) or match.group(1))
            point = next(point for point in CLEANRL_CURVE_POINTS[game] if point[0] == steps)
            assert (point[1], point[2]) == (low, high), (game, steps)


def test_readme_commands_write_only_where_git_ignores() -> None:
    """A new user runs the README's commands in the checkout: what they write must not show up in ``git status``."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|python)\n(.*?)```", text, flags=re.S)
    written = [path for block in blocks for path in re.findall(r"(?:--out|-f) (\S+)", block)]
    written += [f"{name}.zip" for block in blocks for name in re.findall(r'\.save\("([^"]+)"\)', block)]
    written += [f"{name}/" for block in blocks for name in re.findall(r'tensorboard_log="([^"]+)"', block)]
    assert {"evals/breakout.json", "report/", "breakout.gif", "logs/"} <= set(written), written
    for path in written:
        probe = f"{path}x" if path.endswith("/") else path
        result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT, capture_output=True)
        assert result.returncode == 0, f"the README writes {path}, which git does not ignore"


def test_docs_name_the_commands() -> None:
    modules = named_modules()
    # the tools, the benchmarks and rl-zoo3's training command are all documented with their command lines
    assert {
        "sb3_dqn_paper.tools.evaluate",
        "sb3_dqn_paper.tools.report",
        "sb3_dqn_paper.tools.record",
        "sb3_dqn_paper.tools.checkpoint",
        "sb3_dqn_paper.benchmarks.speed",
        "sb3_dqn_paper.benchmarks.memory",
        "rl_zoo3.train",
    } <= set(modules)


@pytest.mark.slow
@pytest.mark.parametrize("module", named_modules())
def test_named_command_runs_help(module: str) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"python -m {module} --help exited {result.returncode}:\n{result.stderr[-2000:]}"
    assert "usage:" in result.stdout.lower()
    if module in ALGO_CHOICE_COMMANDS:
        assert "paper_dqn" in result.stdout, f"python -m {module} --help does not offer --algo paper_dqn"


RESULTS_GAMES = {"Breakout": "BreakoutNoFrameskip-v4", "Space Invaders": "SpaceInvadersNoFrameskip-v4"}
EVALS = ROOT / "docs" / "results" / "1m-runs" / "evals"
TARGET_RUN = ROOT / "docs" / "results" / "si-target-network" / "evals"


def markdown_rows(section: str, first_header_cell: str) -> list[list[str]]:
    """
    :param section: Markdown text
    :param first_header_cell: The first header cell of the wanted table
    :return: The body rows of the first table in ``section`` whose header starts with that cell, as stripped cells
        with the ``**`` of bold text removed
    """
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header_cell} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows.append([cell.strip().replace("**", "") for cell in line.strip().strip("|").split("|")])
    return rows


def shown_as(cell: str, value: float) -> bool:
    """
    :param cell: A number as a table shows it (``17.47``, ``248.5``, ``1,000,000``, ``0 of 256``)
    :param value: The number it should show
    :return: Whether ``cell`` is ``value`` rounded to the digits ``cell`` shows
    """
    number = cell.split(" of ")[0].replace(",", "")
    decimals = len(number.partition(".")[2])
    return abs(float(number) - value) <= 0.5 * 10**-decimals + 1e-9


def range_shown_as(cell: str, scores: dict) -> bool:
    """
    :param cell: A score as a table shows it: ``average (min-max)``, e.g. ``19.83 (13-26)`` (``-20 (-21 to -19)``)
    :param scores: The ``unclipped`` or ``clipped`` entry of an ``evaluate`` file
    :return: Whether ``cell`` shows that entry's average, min and max
    """
    match = re.fullmatch(r"(-?[\d.]+) \((-?[\d.]+)(?:-| to )(-?[\d.]+)\)", cell)
    return (
        match is not None
        and shown_as(match.group(1), scores["mean"])
        and (float(match.group(2)), float(match.group(3))) == (scores["min"], scores["max"])
    )


def evaluation_files(env_id: str, folder: pathlib.Path = EVALS) -> dict[int, dict]:
    """
    :param env_id: A Gymnasium id
    :param folder: The folder of the evaluation files
    :return: The ``evaluate`` files of that game in ``folder``, by the model's agent steps
    """
    files = {}
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") == "sb3_dqn_paper.evaluate" and data["env_id"] == env_id:
            files[data["model_num_timesteps"]] = data
    return files


def held_out_measures(env_id: str, folder: pathlib.Path = EVALS) -> dict[int, dict]:
    """
    :param env_id: A Gymnasium id
    :param folder: The folder of the evaluation files
    :return: The ``held_out_q`` measures of that game's models in ``folder``, by agent steps
    """
    measures = {}
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if "models" in data and "kind" not in data and data["env_id"] == env_id:
            measures.update({entry["num_timesteps"]: entry for entry in data["models"]})
    return measures


@pytest.mark.parametrize("title", sorted(RESULTS_GAMES))
def test_results_tables_are_the_evaluation_files(title: str) -> None:
    """Every score and held-out measure of the 1M runs' tables in docs/results.md is the one in its file."""
    env_id = RESULTS_GAMES[title]
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = text.split(f"\n### {title}\n", 1)[1].split("\n### ", 1)[0]
    evaluations, measures = evaluation_files(env_id), held_out_measures(env_id)
    rows = markdown_rows(section, "model (agent steps)")
    assert rows
    for cells in rows:
        steps = int(cells[0].split()[0].replace(",", ""))
        _, epsilon, games, average, best, worst, clipped, max_q, inactive = cells
        # the paper's schedule: epsilon 1.0 -> 0.1 over the first 1M agent steps
        assert shown_as(epsilon, max(0.1, 1.0 - 0.9 * steps / 1_000_000)), (title, steps, epsilon)
        if games:
            result = evaluations.pop(steps)
            assert int(games) == result["n_episodes"], (title, steps)
            for cell, key in ((average, "mean"), (best, "max"), (worst, "min")):
                assert shown_as(cell, result["unclipped"][key]), (title, steps, key, cell)
            assert range_shown_as(clipped, result["clipped"]), (title, steps, clipped)
        if max_q:
            entry = measures[steps]
            assert shown_as(max_q, entry["average_max_q"]), (title, steps, max_q)
            assert inactive == f"{entry['inactive_units']} of {entry['units']}", (title, steps, inactive)
    assert evaluations == {}, f"{title}: evaluation files missing from the table: {sorted(evaluations)}"


def test_agents_table_is_the_shipped_agents() -> None:
    """agents/README.md shows each shipped agent's agent steps and its paper-protocol score."""
    text = (ROOT / "agents" / "README.md").read_text(encoding="utf-8")
    rows = markdown_rows(text, "game")
    env_ids = {game.title: game.env_id for game in TABLE1.values()}
    shipped = sorted(path.name.rsplit("_", 1)[0] for path in (ROOT / "agents" / "paper_dqn").iterdir() if path.is_dir())
    assert sorted(env_ids[cells[0]] for cells in rows) == shipped
    for cells in rows:
        env_id = env_ids[cells[0]]
        info = json.loads((ROOT / "agents" / "paper_dqn" / f"{env_id}_1" / env_id / "agent.json").read_text())
        assert cells[1] == f"{info['num_timesteps']:,}"
        # an agent of the 1M runs, or of one of the seven-game campaigns
        candidates = [evaluation_files(env_id)] + [
            evaluation_files(env_id, campaign / "data" / "evals" / f"{env_id}_seed0") for campaign in CAMPAIGNS
        ]
        results = [files[info["num_timesteps"]] for files in candidates if info["num_timesteps"] in files]
        score, _, games = cells[3].rpartition(", ")
        assert any(
            range_shown_as(score, result["unclipped"]) and games == f"{result['n_episodes']} games" for result in results
        ), cells[3]


def test_readme_results_are_the_evaluation_files() -> None:
    """
    The README's results table shows each 1M run's paper-protocol average, range and games as in its file, and a 1M
    run's game is left out only for a campaign row that went further.
    """
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    all_rows = {cells[0]: cells for cells in markdown_rows(text, "game")}
    rows = [cells for cells in all_rows.values() if cells[-1].startswith("[1M run]")]
    assert rows and {cells[0] for cells in rows} <= set(RESULTS_GAMES)
    for title in set(RESULTS_GAMES) - {cells[0] for cells in rows}:
        cells = all_rows[title]
        assert cells[-1].startswith("[campaign ") and int(cells[1].replace(",", "")) > 1_000_000, cells
    for cells in rows:
        steps = int(cells[1].split()[0].replace(",", ""))
        result = evaluation_files(RESULTS_GAMES[cells[0]])[steps]
        score, _, games = cells[2].rpartition(", ")
        assert range_shown_as(score, result["unclipped"]), (cells[0], steps, cells[2])
        assert games == f"{result['n_episodes']} games", (cells[0], steps, cells[2])


def test_overestimation_table_is_its_file() -> None:
    """The Breakout table of Q(s, a) against the returns that followed shows the numbers of its overestimation file."""
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = text.split("\n### Breakout\n", 1)[1].split("\n### ", 1)[0]
    rows = markdown_rows(section, "model (agent steps) | mean Q(s, a)")
    data = json.loads((EVALS / "breakout_overestimation.json").read_text(encoding="utf-8"))
    by_steps = {entry["num_timesteps"]: entry for entry in data["models"]}
    assert len(rows) == len(by_steps)
    for steps, mean_q, mean_return, excess in rows:
        entry = by_steps[int(steps.replace(",", ""))]
        assert shown_as(mean_q, entry["mean_q"]) and shown_as(mean_return, entry["mean_return"]), steps
        assert shown_as(excess, entry["mean_excess"]), steps


def test_target_network_table_is_its_files() -> None:
    """
    The investigation's table of the Space Invaders run with a target network against the paper's run at the same
    agent steps shows the numbers of both runs' evaluate and held_out_q files.
    """
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    section = text.split("**A run with a target network.**", 1)[1].split("**What it means", 1)[0]
    header = "run, seed 0 | agent steps"
    rows = markdown_rows(section, header)
    env_id = RESULTS_GAMES["Space Invaders"]
    sources = {
        "the paper's defaults (no target network)": (evaluation_files(env_id), held_out_measures(env_id)),
        "target network every 10,000 agent steps": (
            evaluation_files(env_id, TARGET_RUN),
            held_out_measures(env_id, TARGET_RUN),
        ),
    }
    assert sorted(cells[0] for cells in rows) == sorted(sources)
    for run, steps, games, average, best, worst, clipped, max_q, inactive in rows:
        evaluations, measures = sources[run]
        result, entry = evaluations[int(steps.replace(",", ""))], measures[int(steps.replace(",", ""))]
        assert int(games) == result["n_episodes"], run
        for cell, key in ((average, "mean"), (best, "max"), (worst, "min")):
            assert shown_as(cell, result["unclipped"][key]), (run, key, cell)
        assert range_shown_as(clipped, result["clipped"]), (run, clipped)
        assert shown_as(max_q, entry["average_max_q"]), (run, max_q)
        assert inactive == f"{entry['inactive_units']} of {entry['units']}", (run, inactive)


#: The landed seven-game campaigns, one folder each (``campaign-<start date>``, a letter after it for a
#: second one started the same day): a campaign cannot move to a new machine
#: (its checkpoints stay behind), so a machine change starts a new one and the earlier one's files stay here.
CAMPAIGNS = sorted((ROOT / "docs" / "results").glob("campaign-*"))


def test_there_are_campaign_folders() -> None:
    assert CAMPAIGNS and all((campaign / "data" / "campaign.json").is_file() for campaign in CAMPAIGNS)


@pytest.mark.parametrize("campaign", CAMPAIGNS, ids=lambda path: path.name)
def test_campaign_report_is_made_from_its_data(campaign: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """Each campaign's table1.md and table1.json are what `campaign report` makes of its files (``data/``)."""
    from sb3_dqn_paper.tools.campaign.config import read_config
    from sb3_dqn_paper.tools.campaign.table import REPORT_DATA_FILE, REPORT_FILE, write_campaign_report

    data = campaign / "data"
    write_campaign_report(data, read_config(data), tmp_path)
    for name in (REPORT_FILE, REPORT_DATA_FILE):
        assert (tmp_path / name).read_text() == (campaign / name).read_text(), name


def test_combined_table1_is_made_from_the_campaigns(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/results/table1/ is what `campaign combine` makes of every landed campaign's files, oldest first."""
    from sb3_dqn_paper.tools.campaign.combine import write_combined_report
    from sb3_dqn_paper.tools.campaign.table import REPORT_DATA_FILE, REPORT_FILE

    monkeypatch.chdir(ROOT)
    write_combined_report([str((campaign / "data").relative_to(ROOT)) for campaign in CAMPAIGNS], tmp_path)
    for name in (REPORT_FILE, REPORT_DATA_FILE):
        assert (tmp_path / name).read_text() == (ROOT / "docs" / "results" / "table1" / name).read_text(), name


@pytest.mark.parametrize("page", ["README.md", "docs/results.md"])
def test_campaign_tables_are_its_evaluations(page: str) -> None:
    """
    The campaigns' tables in the README and on the results page show the numbers of the report (table1.json) of the
    campaign each row names; the README shows each game's furthest run (``campaign combine``'s choice), the results
    page every game's latest evaluation in the newest campaign.
    """
    titles = {game.title: game.key for game in TABLE1.values()}
    reports = {
        campaign.name.removeprefix("campaign-"): json.loads((campaign / "table1.json").read_text()) for campaign in CAMPAIGNS
    }
    text = (ROOT / page).read_text(encoding="utf-8")
    # the README's one results table names each row's run ("[campaign <date>](...) (wall time)" or a 1M run); the
    # results page has a table of the campaigns alone, its last column the date
    first, last = ("game", "run (wall time)") if page == "README.md" else ("campaign game", "campaign started")
    header = text.split(f"| {first} |", 1)[1].splitlines()[0]
    column = [cell.strip() for cell in header.strip().strip("|").split("|")].index(last) + 1
    every_row = markdown_rows(text, first)
    rows = [cells for cells in every_row if "campaign" in cells[column] or page != "README.md"]
    assert rows
    shown = set()
    for cells in rows:
        key, steps = titles[cells[0]], int(cells[1].replace(",", ""))
        campaign = re.search(r"\[(?:campaign )?(\d{4}-\d\d-\d\d[b-z]?)\]", cells[column]).group(1)
        entry = reports[campaign]["scores"][key][str(steps)]
        match = re.fullmatch(r"(-?[\d.]+) \((-?[\d.]+)(?:-| to )(-?[\d.]+)\), (\d+) games", cells[2])
        assert match, cells[2]
        assert shown_as(match.group(1), entry["mean"]), cells
        assert (float(match.group(2)), float(match.group(3))) == (entry["worst"], entry["best"]), cells
        assert int(match.group(4)) == entry["n_games"], cells
        shown.add((campaign, key, steps))
    if page == "README.md":
        # each game's furthest run, as `campaign combine` chose it (docs/results/table1), at its latest evaluation,
        # unless the README's row of that game is a run outside the campaigns (a 1M run) with as many agent steps or more
        combined = json.loads((ROOT / "docs" / "results" / "table1" / "table1.json").read_text())
        further = {titles[cells[0]]: int(cells[1].replace(",", "")) for cells in every_row if "campaign" not in cells[column]}
        furthest = {key: max(map(int, by_steps)) for key, by_steps in combined["scores"].items()}
        latest = {
            (pathlib.Path(combined["sources"][key]).parent.name.removeprefix("campaign-"), key, steps)
            for key, steps in furthest.items()
            if further.get(key, 0) < steps
        }
    else:
        # every game's latest evaluation in the newest campaign
        newest = max(reports)
        latest = {(newest, key, max(int(steps) for steps in by_steps)) for key, by_steps in reports[newest]["scores"].items()}
    assert latest <= shown
