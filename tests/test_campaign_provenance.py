"""The campaign's segment records: written at the start, completed at the end, read back and listed by the report."""

import json
import pathlib

from sb3_dqn_paper.tools.campaign.provenance import (
    code_hash,
    end_record,
    machine_and_software,
    read_records,
    record_path,
    segments_markdown,
    start_record,
)


def test_a_record_is_started_completed_and_listed(tmp_path: pathlib.Path) -> None:
    segments = tmp_path / "segments"
    segments.mkdir()
    context = machine_and_software()
    assert context["cpu_count"] >= 1 and len(context["code_sha256"]) == 12 and context["versions"]["sb3-dqn-paper"]
    start_record(segments / "001.log", ["python", "-m", "rl_zoo3.train"], 0, 2000, context)
    start_record(segments / "002.log", ["python", "-m", "rl_zoo3.train", "-i", "x.zip"], 2000, 4000, context)
    first = json.loads(record_path(segments / "001.log").read_text())
    assert first["steps_at_start"] == 0 and first["stop_at"] == 2000 and "ended" not in first
    end_record(segments / "001.log", 2000, 0)
    end_record(segments / "003.log", 1, 0)  # no record started: nothing written
    assert not (segments / "003.json").exists()
    (segments / "004.json").write_text("{not json")  # unreadable records are left out
    records = read_records(segments)
    assert [(r["segment"], r["steps_at_start"], r.get("steps_at_end"), r.get("exit_status")) for r in records] == [
        (1, 0, 2000, 0),
        (2, 2000, None, None),
    ]
    # wall time from the times recorded
    records[0].update(started="2026-12-06T12:00:00+00:00", ended="2026-12-06T14:05:59+00:00")
    table = segments_markdown([("Pong_seed0", records)]).splitlines()
    assert len(table) == 4
    assert table[2].startswith("| Pong_seed0 | 1 | 2026-12-06T12:00:00 | 0 -> 2,000 | 2 h 05 min | ")
    assert table[3].startswith("| Pong_seed0 | 2 | ") and "| 2,000 -> ? | not ended |" in table[3]
    assert f"| {code_hash()} |" in table[2]


def test_the_code_hash_follows_the_package_files(tmp_path: pathlib.Path) -> None:
    package = tmp_path / "package"
    (package / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "hyperparams.yml").write_text("a: 1\n")
    first = code_hash(package)
    (package / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")
    (package / "notes.txt").write_text("not code")
    assert code_hash(package) == first  # neither bytecode nor other files count
    (package / "a.py").write_text("x = 2\n")
    assert code_hash(package) != first
    (package / "a.py").write_text("x = 1\n")
    (package / "hyperparams.yml").rename(package / "other.yml")
    assert code_hash(package) != first  # paths count too
    assert len(code_hash()) == 12 and read_records(tmp_path / "no segments") == []
