"""The ``sb3-dqn-paper`` console script: each command runs the module's ``main``, as ``python -m`` does."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sb3_dqn_paper.tools import cli

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "sb3_dqn_paper.tools.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, prog",
    [
        (["evaluate"], "sb3-dqn-paper evaluate"),
        (["report"], "sb3-dqn-paper report"),
        (["record"], "sb3-dqn-paper record"),
        (["checkpoint"], "sb3-dqn-paper checkpoint"),
        (["campaign"], "sb3-dqn-paper campaign"),
        (["bench", "speed"], "sb3-dqn-paper bench speed"),
        (["bench", "memory"], "sb3-dqn-paper bench memory"),
    ],
)
def test_each_command_runs_the_module_s_main(args: list[str], prog: str) -> None:
    result = run_cli(*args, "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.lower().startswith(f"usage: {prog}")


@pytest.mark.slow
def test_exit_status_and_output_are_the_module_s(tmp_path: Path) -> None:
    """A command's failure comes back as its exit status: a checkpoint that is not one is BAD, status 1."""
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    result = run_cli("checkpoint", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith("BAD ")
    assert cli.main(["checkpoint", str(bad)]) == 1


def test_unknown_command_and_help() -> None:
    assert cli.main(["--help"]) == 0
    assert cli.main([]) == 2
    assert cli.main(["train"]) == 2
    assert cli.main(["bench", "nothing"]) == 2
    result = run_cli("nosuch")
    assert result.returncode == 2 and "unknown command 'nosuch'" in result.stderr


def test_usage_lines_name_the_command_as_typed(capsys: pytest.CaptureFixture) -> None:
    """`sb3-dqn-paper held_out_q --help` says `usage: sb3-dqn-paper held_out_q`; `python -m` keeps its own name."""
    import argparse

    init = argparse.ArgumentParser.__init__
    for args, usage in (
        (["held_out_q", "--help"], "usage: sb3-dqn-paper held_out_q "),
        (["export", "--help"], "usage: sb3-dqn-paper export "),
        (["checkpoint", "--help"], "usage: sb3-dqn-paper checkpoint "),
    ):
        with pytest.raises(SystemExit) as exit_status:
            cli.main(args)
        assert exit_status.value.code == 0
        assert capsys.readouterr().out.startswith(usage)
    from sb3_dqn_paper.tools.held_out_q import make_parser

    assert argparse.ArgumentParser.__init__ is init, "argparse is put back after the command"
    assert make_parser().prog == "python -m sb3_dqn_paper.tools.held_out_q"


def test_bench_help_lists_the_benchmarks(capsys: pytest.CaptureFixture) -> None:
    for args, status in ((["bench", "--help"], 0), (["bench", "-h"], 0), (["bench"], 2)):
        assert cli.main(args) == status
        out, err = capsys.readouterr()
        assert out.startswith("usage: sb3-dqn-paper bench {speed,memory,timed_train,update_variants,peak}")
        assert "unknown command" not in out + err


def test_console_script_entry_point_is_importable() -> None:
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, attribute = scripts["sb3-dqn-paper"].partition(":")
    import importlib

    assert getattr(importlib.import_module(module), attribute) is cli.main
    assert set(cli.COMMANDS) == {
        "evaluate",
        "report",
        "record",
        "checkpoint",
        "export",
        "held_out_q",
        "overestimation",
        "fixed_action",
        "campaign",
        "zoo",
    }
