"""
Where and with what each training segment of a campaign ran: a small JSON record beside its log.

A campaign's runs go on across stops, machines and versions of the code, and every score should come with its
hardware and wall time. ``run`` writes ``segments/NNN.json`` when it starts the segment of ``segments/NNN.log``
(start time, agent steps at the start, the CPU, the versions of the packages, a hash of this package's code) and
completes it when the segment ends (end time, agent steps at the end, exit status). The report lists them.
"""

import datetime
import hashlib
import importlib.metadata
import json
import os
import pathlib
import platform
from collections.abc import Sequence
from typing import Any

from sb3_dqn_paper.atomic_io import atomic_write_files

#: Value of the ``"kind"`` key of a segment record.
RECORD_KIND = "sb3_dqn_paper.campaign.segment"
#: Distributions whose versions a record names.
PACKAGES = ("sb3-dqn-paper", "torch", "stable-baselines3", "rl_zoo3", "ale-py", "gymnasium", "numpy")


def utc_now() -> str:
    """:return: The time now, UTC, ISO 8601 to the second"""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def code_hash(root: pathlib.Path | None = None) -> str:
    """
    :param root: The package folder (default: this package, as installed)
    :return: The first 12 hex digits of a SHA-256 over the package's ``.py`` and ``.yml`` files (paths and contents):
        two segments with the same hash ran the same code, whatever the version number says
    """
    root = pathlib.Path(__file__).resolve().parents[2] if root is None else root
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yml") and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def machine_and_software() -> dict[str, Any]:
    """:return: The CPU (model, the AVX-512 / bf16 / AMX flags, cores), the packages' versions and the code's hash"""
    from sb3_dqn_paper.precision import cpu_isa, cpu_model

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_isa()["flags"],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "code_sha256": code_hash(),
    }


def record_path(log_path: pathlib.Path) -> pathlib.Path:
    """:return: The record of the segment whose log is ``log_path`` (``segments/003.log`` -> ``segments/003.json``)"""
    return log_path.with_suffix(".json")


def start_record(log_path: pathlib.Path, command: Sequence[str], steps: int, stop_at: int, context: dict[str, Any]) -> None:
    """
    Write the record of a segment being started.

    :param log_path: The segment's log
    :param command: Its command line
    :param steps: Agent steps of the run at the start (of the checkpoint it resumes, 0 for a new run)
    :param stop_at: Agent steps it is to stop at
    :param context: :func:`machine_and_software`
    """
    record = {"kind": RECORD_KIND, "started": utc_now(), "steps_at_start": steps, "stop_at": stop_at, **context}
    record["command"] = list(command)
    atomic_write_files({record_path(log_path): (json.dumps(record, indent=2) + "\n").encode()})


def end_record(log_path: pathlib.Path, steps: int, exit_status: int | None) -> None:
    """
    Complete the record of a segment that ended (nothing is written where its start was not recorded).

    :param log_path: The segment's log
    :param steps: Agent steps of the run's newest sound checkpoint now
    :param exit_status: The process's exit status
    """
    path = record_path(log_path)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    record.update(ended=utc_now(), steps_at_end=steps, exit_status=exit_status)
    atomic_write_files({path: (json.dumps(record, indent=2) + "\n").encode()})


def read_records(segments_folder: pathlib.Path) -> list[dict[str, Any]]:
    """:return: The readable segment records in ``segments_folder``, oldest first, each with its ``"segment"`` number"""
    if not segments_folder.is_dir():
        return []
    records = []
    for path in sorted(segments_folder.glob("[0-9][0-9][0-9].json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("kind") == RECORD_KIND:
            records.append({"segment": int(path.stem), **record})
    return records


def _duration(record: dict[str, Any]) -> str:
    if "ended" not in record:
        return "not ended"
    from sb3_dqn_paper.tools.campaign.status import format_duration

    elapsed = datetime.datetime.fromisoformat(record["ended"]) - datetime.datetime.fromisoformat(record["started"])
    return format_duration(elapsed.total_seconds())


def segments_markdown(runs: Sequence[tuple[str, list[dict[str, Any]]]]) -> str:
    """
    :param runs: ``(run name, its records)`` for each run
    :return: A Markdown table of every recorded segment: when, agent steps, wall time, CPU, torch, code hash
    """
    lines = [
        "| run | segment | started (UTC) | agent steps | wall time | CPU | flags | torch | code |",
        "| --- | ---: | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, records in runs:
        for record in records:
            end = f"{record['steps_at_end']:,}" if "steps_at_end" in record else "?"
            flags = " ".join(flag for flag in record["cpu_flags"] if flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
            lines.append(
                f"| {name} | {record['segment']} | {record['started'].replace('+00:00', '')} | "
                f"{record['steps_at_start']:,} -> {end} | {_duration(record)} | {record['cpu']} | {flags} | "
                f"{record['versions'].get('torch')} | {record['code_sha256']} |"
            )
    return "\n".join(lines)
