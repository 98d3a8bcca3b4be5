"""``campaign combine``: one Table 1 from several campaigns, each game from the campaign whose run of it went furthest."""

import json
import pathlib

import pytest
from test_campaign_report import write_evaluation

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.campaign.cli import main
from sb3_dqn_paper.tools.campaign.combine import write_combined_report
from sb3_dqn_paper.tools.campaign.config import make_config, write_config
from sb3_dqn_paper.tools.campaign.table import REPORT_DATA_FILE, REPORT_FILE

GAMES = ["PongNoFrameskip-v4", "BreakoutNoFrameskip-v4", "SeaquestNoFrameskip-v4"]


def make_campaign(folder: pathlib.Path, evaluations: dict[tuple[str, int], list[float]], **config: object) -> pathlib.Path:
    write_config(folder, make_config(GAMES, [0], 2_500_000, [1_000_000], **config))
    for (env_id, steps), scores in evaluations.items():
        write_evaluation(folder, env_id, steps, scores)
    return folder


@pytest.fixture
def campaigns(tmp_path: pathlib.Path) -> list[pathlib.Path]:
    # the first campaign: Pong to 500k and Breakout to 250k; the second: Pong again to 250k only, Breakout to 250k
    first = make_campaign(
        tmp_path / "first",
        {
            ("PongNoFrameskip-v4", 250_000): [-21, -21],
            ("PongNoFrameskip-v4", 500_000): [-19, -17],
            ("BreakoutNoFrameskip-v4", 250_000): [1, 3],
        },
    )
    second = make_campaign(
        tmp_path / "second",
        {("PongNoFrameskip-v4", 250_000): [-20, -20], ("BreakoutNoFrameskip-v4", 250_000): [4, 6, 8]},
    )
    return [first, second]


def test_each_game_from_its_furthest_run(campaigns: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    written = write_combined_report(campaigns, tmp_path / "report")
    assert written == [str(tmp_path / "report" / REPORT_FILE), str(tmp_path / "report" / REPORT_DATA_FILE)]
    data = json.loads((tmp_path / "report" / REPORT_DATA_FILE).read_text())
    # Pong from the first campaign (500k beats 250k), both of its budgets and none of the second's;
    # Breakout from the second (equal budgets: the campaign named last)
    pong = data["scores"]["Pong"]
    assert set(pong) == {"250000", "500000"}
    assert (pong["250000"]["mean"], pong["250000"]["n_games"]) == (-21.0, 2)
    assert (pong["500000"]["mean"], pong["500000"]["best"], pong["500000"]["worst"]) == (-18.0, -17.0, -19.0)
    assert data["scores"]["Breakout"]["250000"]["mean"] == 6.0
    assert set(data["scores"]) == {"Pong", "Breakout"}
    assert data["sources"] == {"Breakout": str(campaigns[1]), "Pong": str(campaigns[0])}
    lines = (tmp_path / "report" / REPORT_FILE).read_text().splitlines()
    # every game of the campaigns has its column in the paper's order, Seaquest's empty
    assert lines[lines.index("| --- | ---: | ---: | ---: |") - 1] == "|  | Breakout | Pong | Seaquest |"
    assert "| sb3-dqn-paper, latest evaluation (agent steps) | 6 (250k) | -18 (500k) | - |" in lines
    assert f"| Pong | `{campaigns[0]}` | 250,000, 500,000 |" in lines
    assert f"| Breakout | `{campaigns[1]}` | 250,000 |" in lines
    assert "No evaluation in any of these campaigns: Seaquest." in lines
    # the human-normalised row at 250k uses the chosen runs: Breakout 6 and Pong -21
    human = {"Breakout": (1.7, 30.5), "Pong": (-20.7, 14.6)}
    normalised = data["normalised"]["250000"]["per_game"]
    for key, score in (("Breakout", 6.0), ("Pong", -21.0)):
        random, human_score = human[key]
        assert normalised[key] == pytest.approx((score - random) / (human_score - random))


def test_the_order_decides_between_equals(campaigns: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    write_combined_report(campaigns[::-1], tmp_path / "report")
    data = json.loads((tmp_path / "report" / REPORT_DATA_FILE).read_text())
    assert data["scores"]["Breakout"]["250000"]["mean"] == 2.0
    assert data["scores"]["Pong"]["500000"]["mean"] == -18.0


def test_one_campaign_gives_its_own_table(campaigns: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    from sb3_dqn_paper.tools.campaign.config import read_config
    from sb3_dqn_paper.tools.campaign.table import write_campaign_report

    write_combined_report(campaigns[:1], tmp_path / "combined")
    write_campaign_report(campaigns[0], read_config(campaigns[0]), tmp_path / "own", agents=tmp_path / "agents")
    combined_data, own_data = (json.loads((tmp_path / name / REPORT_DATA_FILE).read_text()) for name in ("combined", "own"))
    assert combined_data.pop("sources") == {"Pong": str(campaigns[0]), "Breakout": str(campaigns[0])}
    assert combined_data == own_data
    combined = (tmp_path / "combined" / REPORT_FILE).read_text().split("## Every evaluation")
    own = (tmp_path / "own" / REPORT_FILE).read_text().split("## Every evaluation")
    assert combined[1] == own[1]


def test_refused_before_anything_is_written(campaigns: list[pathlib.Path], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "report"
    with pytest.raises(InvalidArgumentError, match="is not a campaign folder"):
        write_combined_report([campaigns[0], tmp_path], out)
    with pytest.raises(InvalidArgumentError, match="given twice"):
        write_combined_report([campaigns[0], campaigns[0]], out)
    other = make_campaign(tmp_path / "other", {("PongNoFrameskip-v4", 250_000): [-20]}, eval_steps=5000)
    with pytest.raises(InvalidArgumentError, match="evaluation steps differ"):
        write_combined_report([campaigns[0], other], out)
    empty = make_campaign(tmp_path / "empty", {})
    with pytest.raises(InvalidArgumentError, match="no Table 1 game has an evaluation"):
        write_combined_report([empty], out)
    assert not out.exists()


def test_command_line(campaigns: list[pathlib.Path], tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["combine", *map(str, campaigns), "--out", str(tmp_path / "report")]) == 0
    assert f"wrote {tmp_path / 'report' / REPORT_FILE}" in capsys.readouterr().out
    assert main(["combine", str(campaigns[0]), str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    assert "is not a campaign folder" in capsys.readouterr().err
