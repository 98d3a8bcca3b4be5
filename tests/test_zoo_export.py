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
from sb3_dqn_paper.cli import main as cli_main
from sb3_dqn_paper.zoo.export import AGENT_INFO_FILE, MACHINE_ARGS, export_agent, main

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
