"""Shipping a trained agent: a checkpoint of an rl-zoo3 run -> a small model in a run folder that rl_zoo3.enjoy plays."""

import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch as th
import yaml
from zoo_cli import require_installed_hook, run_python

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.checkpoint import REPLAY_BUFFER_ENTRY, is_checkpoint
from sb3_dqn_paper.tools.cli import main as cli_main
from sb3_dqn_paper.tools.export import AGENT_INFO_FILE, MACHINE_ARGS, export_agent, main

pytestmark = [pytest.mark.zoo, pytest.mark.slow]


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1,200-step CartPole run with checkpoints holding the replay buffer; returns its run folder."""
    require_installed_hook()
    workdir = tmp_path_factory.mktemp("export")
    run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-n", "1200", "--seed", "0",
         "--eval-freq", "-1", "-f", "logs", "--save-freq", "1000", "--save-replay-buffer",
         "--hyperparams", "learning_starts:300", "buffer_size:5000"],
        cwd=workdir,
    )  # fmt: skip
    return workdir / "logs" / "paper_dqn" / "CartPole-v1_1"


def test_export_a_checkpoint_that_enjoy_plays(zoo_run: Path, tmp_path: Path) -> None:
    checkpoint = zoo_run / "rl_model_1000_steps.zip"
    assert is_checkpoint(checkpoint)
    with zipfile.ZipFile(checkpoint) as archive:
        assert REPLAY_BUFFER_ENTRY in archive.namelist()
    target = Path(export_agent(str(checkpoint), str(tmp_path / "agents")))
    assert target == tmp_path / "agents" / "paper_dqn" / "CartPole-v1_1"
    assert sorted(path.name for path in target.iterdir()) == ["CartPole-v1", "CartPole-v1.zip"]
    model_file = target / "CartPole-v1.zip"
    with zipfile.ZipFile(model_file) as archive:
        assert REPLAY_BUFFER_ENTRY not in archive.namelist()
    assert not is_checkpoint(model_file)
    # the same weights as the checkpoint, the counters of its step
    shipped, original = PaperDQN.load(model_file, device="cpu"), PaperDQN.load(checkpoint, device="cpu")
    assert shipped.num_timesteps == original.num_timesteps == 1000
    for name, tensor in original.policy.state_dict().items():
        assert th.equal(shipped.policy.state_dict()[name], tensor), name
    # config.yml copied, args.yml without the machine's paths, agent.json with the provenance
    assert (target / "CartPole-v1" / "config.yml").read_bytes() == (zoo_run / "CartPole-v1" / "config.yml").read_bytes()
    args = yaml.load((target / "CartPole-v1" / "args.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert args["env"] == "CartPole-v1" and args["seed"] == 0
    assert not set(MACHINE_ARGS) & set(args)
    info = json.loads((target / "CartPole-v1" / AGENT_INFO_FILE).read_text())
    assert info["source"] == "rl_model_1000_steps.zip"
    assert (info["num_timesteps"], info["n_updates"]) == (1000, 700)
    assert info["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert info["exploration_rate"] == pytest.approx(original.exploration_rate)
    result = run_python(
        ["-m", "rl_zoo3.enjoy", "--algo", "paper_dqn", "--env", "CartPole-v1", "-f", str(tmp_path / "agents"),
         "--no-render", "-n", "300"],
        cwd=tmp_path,
    )  # fmt: skip
    assert str(model_file) in result.stdout
    assert re.search(r"Episode Reward: \d+", result.stdout), result.stdout[-2000:]


def test_export_refuses_bad_input_and_keeps_what_is_there(zoo_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "agents"
    final_model = zoo_run / "CartPole-v1.zip"
    assert cli_main(["export", str(final_model), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[: printed.rindex("}") + 1])["num_timesteps"] == 1200
    shipped = out / "paper_dqn" / "CartPole-v1_1" / "CartPole-v1.zip"
    before = shipped.read_bytes()
    # an agent already there is refused, and left as it is
    assert main([str(zoo_run / "rl_model_1000_steps.zip"), "--out", str(out)]) == 2
    assert "already exists: pass --overwrite" in capsys.readouterr().err
    assert shipped.read_bytes() == before
    # --overwrite replaces it, with nothing left behind in the folder
    assert main([str(zoo_run / "rl_model_1000_steps.zip"), "--out", str(out), "--overwrite"]) == 0
    assert PaperDQN.load(shipped, device="cpu").num_timesteps == 1000
    assert sorted(path.name for path in (out / "paper_dqn").iterdir()) == ["CartPole-v1_1"]
    # a missing file, a file outside a run folder, a file that is not a model
    assert main([str(zoo_run / "nothing.zip"), "--out", str(out)]) == 2
    assert "no such model or checkpoint file" in capsys.readouterr().err
    (tmp_path / "elsewhere").mkdir()
    loose = tmp_path / "elsewhere" / "model.zip"
    loose.write_bytes(final_model.read_bytes())
    assert main([str(loose), "--out", str(out), "--env", "CartPole-v1"]) == 2
    assert "config.yml is missing" in capsys.readouterr().err
    assert main([str(loose), "--out", str(out)]) == 2
    assert "give the env id with --env" in capsys.readouterr().err
    not_a_model = zoo_run / "not_a_model.zip"
    not_a_model.write_bytes(b"PK\x05\x06" + bytes(18))
    assert main([str(not_a_model), "--out", str(tmp_path / "other"), "--env", "CartPole-v1"]) == 2
    assert "not_a_model.zip" in capsys.readouterr().err
    assert not (tmp_path / "other" / "paper_dqn" / "CartPole-v1_1").exists()


def test_a_resumed_run_ships_no_seed(zoo_run: Path, tmp_path: Path) -> None:
    # a run started with -i CHECKPOINT: rl-zoo3 records the checkpoint and a drawn seed that the resume does not apply
    resumed = tmp_path / "logs" / "paper_dqn" / "CartPole-v1_2"
    shutil.copytree(zoo_run, resumed)
    args_file = resumed / "CartPole-v1" / "args.yml"
    args = yaml.load(args_file.read_text(), Loader=yaml.UnsafeLoader)
    args["trained_agent"], args["seed"] = str(zoo_run / "rl_model_1000_steps.zip"), 12345
    args_file.write_text(yaml.dump(args))
    target = Path(export_agent(str(resumed / "CartPole-v1.zip"), str(tmp_path / "agents")))
    shipped = yaml.load((target / "CartPole-v1" / "args.yml").read_text(), Loader=yaml.UnsafeLoader)
    assert "seed" not in shipped and "trained_agent" not in shipped and shipped["env"] == "CartPole-v1"
    assert json.loads((target / "CartPole-v1" / AGENT_INFO_FILE).read_text())["resumed_from"] == "rl_model_1000_steps.zip"


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    """A run folder as rl-zoo3 writes it, made without rl-zoo3: a CartPole model, a checkpoint, config.yml, args.yml."""
    from collections import OrderedDict

    from sb3_dqn_paper.checkpoint import save_checkpoint

    run = tmp_path / "logs" / "paper_dqn" / "CartPole-v1_1"
    (run / "CartPole-v1").mkdir(parents=True)
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, seed=0, device="cpu")
    model.learn(100)
    save_checkpoint(model, run / "rl_model_100_steps.zip", save_replay_buffer=False)
    model.learn(20, reset_num_timesteps=False)
    model.save(run / "CartPole-v1.zip")
    config = OrderedDict([("buffer_size", 500), ("learning_starts", 50), ("policy", "MlpPolicy")])
    (run / "CartPole-v1" / "config.yml").write_text(yaml.dump(config))
    args = OrderedDict([("algo", "paper_dqn"), ("env", "CartPole-v1"), ("seed", 0), ("log_folder", "logs")])
    (run / "CartPole-v1" / "args.yml").write_text(yaml.dump(args))
    return run


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_overwrite_never_leaves_no_agent(small_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While --overwrite replaces an agent, the target holds a complete agent at every step; normal permissions."""
    import os

    from sb3_dqn_paper import atomic_io

    out = tmp_path / "agents"
    target = Path(export_agent(str(small_run / "CartPole-v1.zip"), str(out)))
    before = _tree(target)
    seen: list[bool] = []
    real_replace, real_rename = os.replace, os.rename
    real_exchange = getattr(atomic_io, "exchange_paths", None)

    def watch(function):
        def watched(*args, **kwargs):
            result = function(*args, **kwargs)
            seen.append((target / "CartPole-v1.zip").is_file() and (target / "CartPole-v1" / "config.yml").is_file())
            return result

        return watched

    monkeypatch.setattr(os, "replace", watch(real_replace))
    monkeypatch.setattr(os, "rename", watch(real_rename))
    if real_exchange is not None:
        monkeypatch.setattr(atomic_io, "exchange_paths", watch(real_exchange))
    export_agent(str(small_run / "rl_model_100_steps.zip"), str(out), overwrite=True)
    monkeypatch.undo()
    assert seen and all(seen), seen
    assert _tree(target) != before and PaperDQN.load(target / "CartPole-v1.zip", device="cpu").num_timesteps == 100
    assert sorted(path.name for path in target.parent.iterdir()) == ["CartPole-v1_1"]
    # the exported folders get the usual permissions, not mkdtemp's 0700
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_failed_replace_puts_the_previous_agent_back(small_run: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """Without an atomic swap (two renames), a failing second rename leaves the previous agent in place."""
    import errno
    import os

    from sb3_dqn_paper import atomic_io

    out = tmp_path / "agents"
    target = Path(export_agent(str(small_run / "CartPole-v1.zip"), str(out)))
    before = _tree(target)
    monkeypatch.setattr(atomic_io, "exchange_paths", lambda first, second: False, raising=False)
    failed: list[str] = []

    def failing_once(function):
        def wrapper(source, destination, *args, **kwargs):
            if os.fspath(destination) == str(target) and not failed:
                failed.append(os.fspath(source))
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return function(source, destination, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "replace", failing_once(os.replace))
    monkeypatch.setattr(os, "rename", failing_once(os.rename))
    assert main([str(small_run / "rl_model_100_steps.zip"), "--out", str(out), "--overwrite"]) == 2
    monkeypatch.undo()
    assert failed and "Input/output error" in capsys.readouterr().err
    assert _tree(target) == before
    assert sorted(path.name for path in target.parent.iterdir()) == ["CartPole-v1_1"]


def test_leftovers_of_killed_exports_are_repaired(small_run: Path, tmp_path: Path) -> None:
    """A previous agent stranded between two renames is put back; stale staging folders are removed, live ones kept."""
    import fcntl
    import os

    out = tmp_path / "agents"
    target = Path(export_agent(str(small_run / "CartPole-v1.zip"), str(out)))
    before = _tree(target)
    parent = target.parent
    # as a SIGKILL leaves them: the agent between the two renames, and staging folders of this and earlier versions
    os.rename(target, parent / ".CartPole-v1_1.previous-0123abcd")
    for stale in (".CartPole-v1_1.staging-k1ll3d00", ".CartPole-v1_1.x7k2m9q1"):
        (parent / stale).mkdir()
        (parent / stale / "CartPole-v1.zip").write_bytes(bytes(1000))
    live = parent / ".CartPole-v1_1.staging-l1v3l1v3"  # a staging folder another export is writing
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    other = parent / ".CartPole-v1_10.staging-0th3r000"  # another run id's: not this export's business
    other.mkdir()
    try:
        with pytest.warns(UserWarning, match="put .*CartPole-v1_1 back"):
            with pytest.raises(FileExistsError, match="already exists: pass --overwrite"):
                export_agent(str(small_run / "rl_model_100_steps.zip"), str(out))
    finally:
        os.close(fd)
    assert _tree(target) == before
    assert sorted(path.name for path in parent.iterdir()) == [live.name, other.name, "CartPole-v1_1"]
    # an earlier version's layout: the previous agent stranded in .<name>.old.<random>/agent
    os.rename(live, parent / "unrelated")
    legacy = parent / ".CartPole-v1_1.old.abcd_123"
    legacy.mkdir()
    os.rename(target, legacy / "agent")
    with pytest.warns(UserWarning, match="put .*CartPole-v1_1 back"):
        with pytest.raises(FileExistsError):
            export_agent(str(small_run / "rl_model_100_steps.zip"), str(out))
    assert _tree(target) == before and not legacy.exists()


def test_damaged_run_files_are_refused_before_anything_is_written(small_run: Path, tmp_path: Path, capsys) -> None:
    """A checkpoint whose meta.json is damaged, a damaged config.yml, an args.yml with a Python tag: named errors."""
    from sb3_dqn_paper.checkpoint import META_ENTRY

    out = tmp_path / "agents"
    checkpoint = small_run / "rl_model_100_steps.zip"
    data = bytearray(checkpoint.read_bytes())
    with zipfile.ZipFile(checkpoint) as archive:
        info = archive.getinfo(META_ENTRY)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x10
    damaged = small_run / "rl_model_200_steps.zip"
    damaged.write_bytes(bytes(data))
    assert main([str(damaged), "--out", str(out)]) == 2
    assert "rl_model_200_steps.zip is damaged or truncated" in capsys.readouterr().err
    assert not out.exists()
    config = small_run / "CartPole-v1" / "config.yml"
    good_config = config.read_bytes()
    config.write_text("buffer_size: [500\n")
    assert main([str(small_run / "CartPole-v1.zip"), "--out", str(out)]) == 2
    assert "config.yml cannot be read as the YAML file rl-zoo3 writes" in capsys.readouterr().err
    config.write_text("just a string\n")
    assert main([str(small_run / "CartPole-v1.zip"), "--out", str(out)]) == 2
    assert "config.yml is damaged: it holds a str" in capsys.readouterr().err
    config.write_bytes(good_config)
    arguments = small_run / "CartPole-v1" / "args.yml"
    arguments.write_text("env: !!python/object/apply:os.getcwd []\n")
    assert main([str(small_run / "CartPole-v1.zip"), "--out", str(out)]) == 2
    assert "args.yml cannot be read as the YAML file rl-zoo3 writes" in capsys.readouterr().err
    arguments.write_bytes(b"env: \xff\xfe\n")
    assert main([str(small_run / "CartPole-v1.zip"), "--out", str(out)]) == 2
    assert "args.yml cannot be read" in capsys.readouterr().err
    assert not out.exists()
