"""The module layout of issue 12: moved names still import from their old places, and the helpers exist once."""

import importlib

import pytest

from sb3_dqn_paper import arguments, file_checks, paper_dqn


def test_loss_names_match_the_loss_functions():
    assert sorted(paper_dqn.LOSSES) == sorted(arguments.LOSS_NAMES)


def test_moved_public_names_import_from_paper_dqn():
    from sb3_dqn_paper.paper_dqn import (
        TD_FORWARDS,
        check_learning_rate,
        check_model_file,
        check_replay_buffer,
        make_env_from_id,
    )

    assert check_model_file is file_checks.check_model_file
    assert check_replay_buffer is file_checks.check_replay_buffer
    assert check_learning_rate is arguments.check_learning_rate
    assert make_env_from_id is importlib.import_module("sb3_dqn_paper.atari").make_env_from_id
    assert TD_FORWARDS == ("auto", "separate", "batched")


@pytest.mark.parametrize(
    "old, module, new",
    [
        ("_load_failure", file_checks, "load_failure_message"),
        ("_check_counts", arguments, "_check_counts"),
        ("_is_whole_number", arguments, "_is_whole_number"),
    ],
)
def test_moved_private_helpers_warn_and_work(old, module, new):
    with pytest.warns(DeprecationWarning, match=f"{new}"):
        helper = getattr(paper_dqn, old)
    assert helper is getattr(module, new)
    with pytest.raises(AttributeError):
        paper_dqn.no_such_name  # noqa: B018


def test_checkpoint_package_keeps_its_names():
    import sb3_dqn_paper.checkpoint as checkpoint
    from sb3_dqn_paper.checkpoint import archive, loading

    assert checkpoint.load_checkpoint is loading.load_checkpoint
    assert checkpoint.verify_checkpoint is archive.verify_checkpoint
    with pytest.warns(DeprecationWarning, match="moved to sb3_dqn_paper.checkpoint.archive"):
        reader = checkpoint._StoredEntryReader
    assert reader is archive._StoredEntryReader


def test_one_frame_skip_default():
    from sb3_dqn_paper.atari import resolve_frame_skip
    from sb3_dqn_paper.errors import InvalidArgumentError

    assert resolve_frame_skip("PongNoFrameskip-v4", None) == 4
    assert resolve_frame_skip("SpaceInvadersNoFrameskip-v4", None) == 3
    assert resolve_frame_skip("SpaceInvadersNoFrameskip-v4", 2) == 2
    with pytest.raises(InvalidArgumentError, match="frame_skip must be at least 1, got 0"):
        resolve_frame_skip("PongNoFrameskip-v4", 0)


def test_one_memory_check(monkeypatch):
    psutil = pytest.importorskip("psutil")
    from sb3_dqn_paper import memory_check, replay_buffer
    from sb3_dqn_paper.errors import InsufficientMemoryError

    class Available:
        available = 3 * 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Available())
    assert replay_buffer.available_memory_bytes is memory_check.available_memory_bytes
    assert memory_check.available_memory_bytes() == 3 * 2**30
    assert memory_check.format_bytes(3 * 2**30) == "3,221,225,472 bytes (3.00 GiB)"
    memory_check.check_memory_available(3 * 2**30, "x", InsufficientMemoryError)  # exactly what is there: fine
    with pytest.raises(
        InsufficientMemoryError,
        match=r"^x needs 4,294,967,296 bytes \(4.00 GiB\) of memory \(n\), but only 3,221,225,472 bytes \(3.00 GiB\) is "
        r"available. Free some.$",
    ):
        memory_check.check_memory_available(4 * 2**30, "x", InsufficientMemoryError, note=" (n)", advice=" Free some.")


def test_one_hyperparameter_file():
    """The repository's hyperparams/paper_dqn.yml is a link to the package data that rl-zoo3 reads."""
    from pathlib import Path

    from sb3_dqn_paper.zoo.hyperparams import default_hyperparams_path

    root = Path(__file__).resolve().parents[1]
    packaged = root / "sb3_dqn_paper" / "hyperparams" / "paper_dqn.yml"
    assert (root / "hyperparams" / "paper_dqn.yml").is_symlink()
    assert (root / "hyperparams" / "paper_dqn.yml").resolve() == packaged.resolve()
    assert default_hyperparams_path().resolve() == packaged.resolve()
    assert "atari" in packaged.read_text()


def test_zoo_modules_do_not_import_each_other():
    """hook.py and registration.py share the switch module instead of importing each other."""
    import ast
    from pathlib import Path

    zoo = Path(__file__).resolve().parents[1] / "sb3_dqn_paper" / "zoo"

    def imported(name: str) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse((zoo / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        return names

    assert "sb3_dqn_paper.zoo.hook" not in imported("registration")
    assert "sb3_dqn_paper.zoo.switch" in imported("registration") and "sb3_dqn_paper.zoo.switch" in imported("hook")
    from sb3_dqn_paper.zoo import hook, registration, switch

    assert hook.DISABLE_VARIABLE == registration.DISABLE_VARIABLE == switch.DISABLE_VARIABLE == "SB3_DQN_PAPER_ZOO_HOOK"
