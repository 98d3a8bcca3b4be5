"""rl-zoo3's commands with --algo paper_dqn, typed as a user types them, on small budgets: train (CartPole and an Atari
game), enjoy, record_video, plot_train, and the explicit ``python -m sb3_dqn_paper.zoo`` alternative."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from zoo_cli import require_installed_hook, run_python

from sb3_dqn_paper import PaperDQN

pytestmark = [pytest.mark.zoo, pytest.mark.slow]


@pytest.fixture(scope="module")
def cartpole_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m rl_zoo3.train --algo paper_dqn --env CartPole-v1`` for 2,000 steps; returns the working directory."""
    require_installed_hook()
    workdir = tmp_path_factory.mktemp("cartpole")
    run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-n", "2000", "--seed", "0",
         "--eval-freq", "1000", "--eval-episodes", "2", "-f", "logs", "--hyperparams", "learning_starts:500"],
        cwd=workdir,
    )  # fmt: skip
    return workdir


def test_train_cartpole_uses_the_shipped_hyperparameters(cartpole_logs: Path) -> None:
    run_dir = cartpole_logs / "logs" / "paper_dqn" / "CartPole-v1_1"
    config = dict(yaml.load((run_dir / "CartPole-v1" / "config.yml").read_text(), Loader=yaml.UnsafeLoader))
    # from paper_dqn.yml (no -conf given), except the one override on the command line
    assert config["exploration_steps"] == 10000 and config["learning_rate"] == 1e-3
    assert config["learning_starts"] == 500
    model = PaperDQN.load(run_dir / "CartPole-v1.zip", device="cpu")
    assert model.num_timesteps == 2000
    assert (model.exploration_steps, model.learning_starts, model.target_update_interval) == (10000, 500, None)
    assert model._n_updates == 1500  # one update per agent step after learning_starts
    evaluations = np.load(run_dir / "evaluations.npz")
    assert list(evaluations["timesteps"]) == [1000, 2000]
    monitor = pd.read_csv(run_dir / "0.monitor.csv", skiprows=1)
    assert 0 < monitor["l"].sum() <= 2000


def test_enjoy_runs_the_trained_model(cartpole_logs: Path) -> None:
    result = run_python(
        ["-m", "rl_zoo3.enjoy", "--algo", "paper_dqn", "--env", "CartPole-v1", "-f", "logs", "--no-render", "-n", "600"],
        cwd=cartpole_logs,
    )
    assert "Loading" in result.stdout and "CartPole-v1.zip" in result.stdout
    assert re.search(r"Episode Reward: \d+", result.stdout), result.stdout[-2000:]


def test_explicit_module_without_the_hook(cartpole_logs: Path) -> None:
    # the documented alternative to the import hook: same command, registered explicitly
    result = run_python(
        ["-m", "sb3_dqn_paper.zoo", "enjoy", "--algo", "paper_dqn", "--env", "CartPole-v1", "-f", "logs", "--no-render",
         "-n", "600", "--load-best"],
        cwd=cartpole_logs,
        SB3_DQN_PAPER_ZOO_HOOK="0",
    )  # fmt: skip
    assert "best_model.zip" in result.stdout
    assert re.search(r"Episode Reward: \d+", result.stdout)


def test_record_video(cartpole_logs: Path) -> None:
    run_python(
        ["-m", "rl_zoo3.record_video", "--algo", "paper_dqn", "--env", "CartPole-v1", "-f", "logs", "-n", "100",
         "-o", "videos"],
        cwd=cartpole_logs,
    )  # fmt: skip
    videos = list((cartpole_logs / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000


def test_plot_train(cartpole_logs: Path) -> None:
    # the real rl_zoo3.plots.plot_train module; its final plt.show() is redirected to a file so the figure can be read
    script = (
        "import runpy, sys, json\n"
        "import matplotlib.pyplot as plt\n"
        "def save():\n"
        "    figure = plt.gcf(); figure.savefig('train.png')\n"
        "    (line,) = figure.axes[0].get_lines()\n"
        "    print(json.dumps({'label': line.get_label(), 'x': line.get_xdata().tolist()}))\n"
        "plt.show = save\n"
        "sys.argv = ['plot_train', '--algo', 'paper_dqn', '--env', 'CartPole-v1', '-f', 'logs', '-w', '5']\n"
        "runpy.run_module('rl_zoo3.plots.plot_train', run_name='__main__')\n"
    )
    result = run_python(["-c", script], cwd=cartpole_logs)
    plotted = yaml.safe_load(result.stdout.strip().splitlines()[-1])
    assert (cartpole_logs / "train.png").stat().st_size > 0
    assert plotted["label"] == "CartPole-v1_1"  # one curve, for the run trained above
    monitor = pd.read_csv(cartpole_logs / "logs" / "paper_dqn" / "CartPole-v1_1" / "0.monitor.csv", skiprows=1)
    # x: cumulative agent steps at the end of each episode, after the 5-episode moving window
    assert plotted["x"] == monitor["l"].cumsum().tolist()[4:]


def test_train_atari_then_enjoy(tmp_path: Path) -> None:
    require_installed_hook()
    run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "PongNoFrameskip-v4", "-n", "1500", "--seed", "0",
         "--eval-freq", "-1", "-f", "logs", "--hyperparams", "buffer_size:5000", "learning_starts:1000"],
        cwd=tmp_path,
    )  # fmt: skip
    run_dir = tmp_path / "logs" / "paper_dqn" / "PongNoFrameskip-v4_1"
    config = dict(yaml.load((run_dir / "PongNoFrameskip-v4" / "config.yml").read_text(), Loader=yaml.UnsafeLoader))
    assert config["frame_stack"] == 4
    assert config["env_wrapper"] == [
        {
            "sb3_dqn_paper.zoo.atari_wrapper.PaperAtariWrapper": {
                "frame_skip": 4,
                "noop_max": 30,
                "terminal_on_life_loss": True,
                "clip_reward": True,
            }
        }
    ]
    model = PaperDQN.load(run_dir / "PongNoFrameskip-v4.zip", device="cpu")
    assert model.observation_space.shape == (4, 84, 84)
    assert model._n_updates == 500 and model.q_net_target is None
    result = run_python(
        ["-m", "rl_zoo3.enjoy", "--algo", "paper_dqn", "--env", "PongNoFrameskip-v4", "-f", "logs", "--no-render",
         "-n", "300"],
        cwd=tmp_path,
    )  # fmt: skip
    assert "PongNoFrameskip-v4.zip" in result.stdout


def test_load_with_rl_zoo3_custom_objects(cartpole_logs: Path) -> None:
    # enjoy, record_video and push_to_hub load off-policy models with a zero learning rate
    custom_objects = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "clip_range": lambda _: 0.0}
    model_path = cartpole_logs / "logs" / "paper_dqn" / "CartPole-v1_1" / "CartPole-v1.zip"
    model = PaperDQN.load(model_path, custom_objects=custom_objects, device="cpu")
    assert model.learning_rate == 0.0  # the optimizer was built with lr 0, then got its saved state back
    saved = PaperDQN.load(model_path, device="cpu")
    for loaded_parameter, saved_parameter in zip(model.policy.parameters(), saved.policy.parameters(), strict=True):
        np.testing.assert_array_equal(loaded_parameter.detach().numpy(), saved_parameter.detach().numpy())


def test_learning_rate_zero_is_refused(tmp_path: Path) -> None:
    # rl-zoo3 turns a number into a ConstantSchedule before the model sees it
    require_installed_hook()
    result = run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-n", "200", "-f", "logs",
         "--hyperparams", "learning_rate:0"],
        cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "InvalidArgumentError" in result.stderr and "learning_rate schedule" in result.stderr
    assert not list((tmp_path / "logs").glob("paper_dqn/*/CartPole-v1.zip"))
