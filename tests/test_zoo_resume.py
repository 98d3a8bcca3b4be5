"""
Resuming rl-zoo3 runs of paper_dqn: ``-i CHECKPOINT`` continues the run exactly, ``--save-freq`` writes checkpoints,
SIGTERM stops a zoo run cleanly with a checkpoint, and a plain model file keeps rl-zoo3's behaviour.

The runs are real ``python -m rl_zoo3.train`` subprocesses on CartPole (a few seconds each): a run of 2,000 steps
is compared with a run stopped at 1,000 (or by SIGTERM) and resumed to 2,000 in a new process.
"""

import argparse
import pathlib
import pickle
import signal
import time
from typing import Any

import numpy as np
import pytest
import torch as th
import yaml
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from zoo_cli import REPO_ROOT, require_installed_hook, run_python, start_python

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.checkpoint import PaperCheckpointCallback, list_checkpoints, read_checkpoint_meta, save_checkpoint
from sb3_dqn_paper.errors import CheckpointError
from sb3_dqn_paper.tools.checkpoint import main as checkpoint_main
from sb3_dqn_paper.zoo.hyperparams import load_hyperparams
from sb3_dqn_paper.zoo.resume import EvalWithOwnRandomState

pytestmark = [pytest.mark.zoo, pytest.mark.slow]

TOTAL = 2000
#: Every zoo run here: rl-zoo3's CartPole entry of paper_dqn.yml with updates from step 500, no evaluation.
COMMON = ["--algo", "paper_dqn", "--env", "CartPole-v1", "--seed", "0", "--eval-freq", "-1", "-f", "logs",
          "--hyperparams", "learning_starts:500", "--save-replay-buffer"]  # fmt: skip
BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def train(workdir: pathlib.Path, *args: str, check: bool = True) -> Any:
    return run_python(["-m", "rl_zoo3.train", *COMMON, *args], cwd=workdir, check=check)


def run_dir(workdir: pathlib.Path, run: int) -> pathlib.Path:
    return workdir / "logs" / "paper_dqn" / f"CartPole-v1_{run}"


def assert_same_final_state(expected_dir: pathlib.Path, actual_dir: pathlib.Path) -> None:
    """The final models (weights, optimizer state, counters, epsilon) and replay buffers of two zoo runs are identical."""
    expected = PaperDQN.load(expected_dir / "CartPole-v1.zip", device="cpu")
    actual = PaperDQN.load(actual_dir / "CartPole-v1.zip", device="cpu")
    counters = ("num_timesteps", "_n_updates", "_episode_num", "exploration_rate")
    assert [getattr(actual, name) for name in counters] == [getattr(expected, name) for name in counters]
    assert actual.num_timesteps == TOTAL and actual._n_updates == TOTAL - 500
    expected_weights, actual_weights = expected.policy.state_dict(), actual.policy.state_dict()
    assert expected_weights.keys() == actual_weights.keys()
    for name, tensor in expected_weights.items():
        assert th.equal(tensor, actual_weights[name]), f"weights {name} differ"
    expected_opt, actual_opt = expected.policy.optimizer.state_dict(), actual.policy.optimizer.state_dict()
    assert len(expected_opt["state"]) > 0
    for key, state in expected_opt["state"].items():
        for name, value in state.items():
            assert th.equal(value, actual_opt["state"][key][name]), f"optimizer state {key}.{name} differs"
    buffers = []
    for folder in (expected_dir, actual_dir):
        with open(folder / "replay_buffer.pkl", "rb") as file:
            buffers.append(pickle.load(file))
    assert (buffers[1].pos, buffers[1].full) == (buffers[0].pos, buffers[0].full) == (TOTAL, False)
    for field in BUFFER_FIELDS:
        assert np.array_equal(getattr(buffers[0], field), getattr(buffers[1], field)), f"replay buffer {field} differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The uninterrupted zoo run of 2,000 steps; returns its run folder."""
    require_installed_hook()
    workdir = tmp_path_factory.mktemp("reference")
    train(workdir, "-n", str(TOTAL))
    return run_dir(workdir, 1)


@pytest.fixture(scope="module")
def half_run(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The same run stopped at 1,000 steps, with ``--save-freq 500``; returns the working directory."""
    require_installed_hook()
    workdir = tmp_path_factory.mktemp("half")
    train(workdir, "-n", str(TOTAL // 2), "--save-freq", "500")
    return workdir


def test_save_freq_writes_checkpoints_under_rl_zoo3_names(half_run: pathlib.Path) -> None:
    folder = run_dir(half_run, 1)
    names = [path.name for path in list_checkpoints(folder, "rl_model")]
    assert names == ["rl_model_500_steps.zip", "rl_model_1000_steps.zip"]
    for steps in (500, 1000):
        meta = read_checkpoint_meta(folder / f"rl_model_{steps}_steps.zip")
        # with --save-replay-buffer each one holds the buffer, and each is still a model file
        assert meta["num_timesteps"] == steps and meta["replay_buffer_transitions"] == steps
        assert meta["env_state"] == "saved"
        assert PaperDQN.load(folder / f"rl_model_{steps}_steps.zip", device="cpu").num_timesteps == steps


def test_resume_from_a_checkpoint_is_the_uninterrupted_run(
    reference: pathlib.Path, half_run: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    checkpoint = run_dir(half_run, 1) / "rl_model_1000_steps.zip"
    # with checkpoints and evaluations (which save best_model.zip) during the resumed run, and neither changes it
    result = train(tmp_path, "-n", str(TOTAL), "-i", str(checkpoint), "--save-freq", "500", "--eval-freq", "300",
                   "--eval-episodes", "2")  # fmt: skip
    assert f"Resuming {checkpoint}: 1000 of {TOTAL} agent steps done, 1000 to go" in result.stdout
    assert "not applied" not in result.stderr  # learning_starts:500 is the checkpoint's own value
    resumed = run_dir(tmp_path, 1)
    assert_same_final_state(reference, resumed)
    assert [path.name for path in list_checkpoints(resumed, "rl_model")] == [
        "rl_model_1500_steps.zip",
        "rl_model_2000_steps.zip",
    ]
    assert list(np.load(resumed / "evaluations.npz")["timesteps"]) == [1300, 1600, 1900]  # counted from the resume
    assert (resumed / "best_model.zip").is_file()


def test_resume_refuses_a_total_already_reached(half_run: pathlib.Path, tmp_path: pathlib.Path) -> None:
    checkpoint = run_dir(half_run, 1) / "rl_model_1000_steps.zip"
    result = train(tmp_path, "-n", "1000", "-i", str(checkpoint), check=False)
    assert result.returncode != 0
    assert "CheckpointError" in result.stderr and "is at 1000 agent steps and -n / n_timesteps is 1000" in result.stderr
    assert "-n is the run's total, not the steps to add" in result.stderr
    assert not (run_dir(tmp_path, 1) / "CartPole-v1.zip").exists()


def test_changed_hyperparameters_are_not_applied_and_said_so(half_run: pathlib.Path, tmp_path: pathlib.Path) -> None:
    checkpoint = run_dir(half_run, 1) / "rl_model_1000_steps.zip"
    result = run_python(
        ["-m", "rl_zoo3.train", *COMMON, "-n", "1100", "-i", str(checkpoint), "--hyperparams", "learning_starts:500",
         "learning_rate:0.5", "batch_size:64", "gamma:0.99"],
        cwd=tmp_path,
    )  # fmt: skip
    # batch_size, gamma and learning_starts are the checkpoint's own values: only learning_rate is reported
    assert "--hyperparams learning_rate not applied: an exact resume keeps the checkpoint's values" in result.stderr
    model = PaperDQN.load(run_dir(tmp_path, 1) / "CartPole-v1.zip", device="cpu")
    assert model.policy.optimizer.param_groups[0]["lr"] == 1e-3 and model.num_timesteps == 1100


def test_sigterm_stops_a_zoo_run_with_a_checkpoint_and_the_resume_is_the_uninterrupted_run(
    reference: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # the documented route: PaperCheckpointCallback in the hyperparameter file's `callback` list; the second
    # callback (test only) writes a marker at step 700 and then slows the run so that the signal lands in learn()
    entry = {**load_hyperparams()["CartPole-v1"], "learning_starts": 500}
    entry["callback"] = [
        {"sb3_dqn_paper.checkpoint.PaperCheckpointCallback": {"save_freq": 300, "save_path": "ckpt", "keep_last": 2,
                                                              "verbose": 1}},
        {"checkpoint_worker.SlowDownAfter": {"step": 700, "marker": "marker"}},
    ]  # fmt: skip
    (tmp_path / "conf.yml").write_text(yaml.safe_dump({"CartPole-v1": entry}))
    command = ["-m", "rl_zoo3.train", *COMMON, "-n", str(TOTAL), "-conf", "conf.yml"]
    process = start_python(command, cwd=tmp_path, PYTHONPATH=str(REPO_ROOT / "tests"))
    deadline = time.monotonic() + 300
    while not (tmp_path / "marker").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "marker").exists(), f"the run never reached step 700: {process.communicate()}"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "SIGTERM received: checkpointing and stopping after the current update" in stdout
    assert "Saving to logs/paper_dqn/CartPole-v1_1" in stdout  # rl-zoo3 saved its final model as after Ctrl-C

    latest = run_python(["-m", "sb3_dqn_paper.tools.checkpoint", "--latest", "ckpt"], cwd=tmp_path).stdout.strip()
    stopped_at = read_checkpoint_meta(tmp_path / latest)["num_timesteps"]
    assert 700 <= stopped_at < TOTAL
    assert len(list_checkpoints(tmp_path / "ckpt")) == 2  # keep_last
    result = train(tmp_path, "-n", str(TOTAL), "-i", latest)
    assert f"{stopped_at} of {TOTAL} agent steps done" in result.stdout
    assert_same_final_state(reference, run_dir(tmp_path, 2))


def test_plain_model_file_keeps_rl_zoo3_behaviour(reference: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # rl-zoo3's -i with a model file: the hyperparameters of the command line, counters from zero, -n steps more
    result = train(tmp_path, "-n", "300", "-i", str(reference / "CartPole-v1.zip"))
    assert "Loading pretrained agent" in result.stdout and "Resuming" not in result.stdout
    assert "Loading replay buffer" in result.stdout  # rl-zoo3 reads replay_buffer.pkl next to the model file
    saved = PaperDQN.load(reference / "CartPole-v1.zip", device="cpu")
    model = PaperDQN.load(run_dir(tmp_path, 1) / "CartPole-v1.zip", device="cpu")
    assert model.num_timesteps == 300  # restarted, and no update in 300 steps (learning_starts 500 counts again)
    assert model._n_updates == saved._n_updates == TOTAL - 500
    assert model.exploration_rate == pytest.approx(1.0 - 0.98 * 300 / 10_000)  # epsilon back near 1
    for name, tensor in saved.policy.state_dict().items():
        assert th.equal(tensor, model.policy.state_dict()[name])


def checkpoint_of(folder: pathlib.Path, name: str, steps: int) -> pathlib.Path:
    model = PaperDQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), learning_starts=10, buffer_size=500, seed=0)
    model.learn(steps)
    return save_checkpoint(model, folder / f"{name}_{steps}_steps.zip")


def experiment_manager(algo: str, log_folder: pathlib.Path, **kwargs: Any) -> Any:
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_dqn_paper.zoo.registration import register

    register()
    return ExperimentManager(argparse.Namespace(), algo, "CartPole-v1", str(log_folder), seed=0, verbose=0, **kwargs)


def test_trained_agent_folder_means_its_newest_checkpoint(tmp_path: pathlib.Path) -> None:
    checkpoint_of(tmp_path, "rl_model", 60)
    newest = checkpoint_of(tmp_path, "paper_dqn", 80)  # the prefix of PaperCheckpointCallback's default
    (tmp_path / "rl_model_90_steps.zip").write_bytes(b"truncated")  # damaged: skipped with a warning
    with pytest.warns(UserWarning, match="skipping a checkpoint that cannot be used"):
        manager = experiment_manager("paper_dqn", tmp_path / "logs", trained_agent=str(tmp_path))
    assert manager.trained_agent == str(newest) and manager.continue_training
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty is a folder without a usable checkpoint named rl_model_<steps>"):
        experiment_manager("paper_dqn", tmp_path / "logs", trained_agent=str(tmp_path / "empty"))


def test_a_paper_dqn_file_for_another_algo_is_refused_by_name(tmp_path: pathlib.Path) -> None:
    """``--algo dqn -i <paper_dqn checkpoint>``: a named error at once, not SB3's AttributeError inside DQN.load."""
    from sb3_dqn_paper.errors import InvalidArgumentError

    checkpoint = checkpoint_of(tmp_path, "rl_model", 60)
    with pytest.raises(InvalidArgumentError, match=r"rl_model_60_steps\.zip was saved by PaperDQN, so --algo dqn cannot"):
        experiment_manager("dqn", tmp_path / "logs", trained_agent=str(checkpoint))
    PaperDQN.load(checkpoint).save(tmp_path / "model.zip")  # a plain model file too
    with pytest.raises(InvalidArgumentError, match=r"--algo paper_dqn -i"):
        experiment_manager("dqn", tmp_path / "logs", trained_agent=str(tmp_path / "model.zip"))


def test_replay_buffer_kwargs_equal_to_the_checkpoint_s_are_not_reported_as_ignored() -> None:
    """PaperDQN adds the frame_stack it detects to replay_buffer_kwargs; the same --hyperparams value is no change."""
    import warnings

    from sb3_dqn_paper import make_paper_atari_env
    from sb3_dqn_paper.zoo.resume import warn_ignored_hyperparams

    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0)
    model = PaperDQN("CnnPolicy", env, buffer_size=100, replay_buffer_kwargs={"extra_frame_fraction": 0.01}, device="cpu")
    env.close()
    assert model.replay_buffer_kwargs == {"extra_frame_fraction": 0.01, "frame_stack": 4}
    given = {"replay_buffer_kwargs": {"extra_frame_fraction": 0.01}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_ignored_hyperparams(given, given, model)
    other = {"replay_buffer_kwargs": {"extra_frame_fraction": 0.02}}
    with pytest.warns(UserWarning, match="--hyperparams replay_buffer_kwargs not applied"):
        warn_ignored_hyperparams(other, other, model)


def test_an_empty_trained_agent_is_refused(tmp_path: pathlib.Path) -> None:
    # what `-i "$(python -m sb3_dqn_paper.tools.checkpoint --latest no/such/folder)"` expands to: training must not start over
    require_installed_hook()
    latest = run_python(["-m", "sb3_dqn_paper.tools.checkpoint", "--latest", "no/such/folder"], cwd=tmp_path, check=False)
    assert latest.returncode == 1 and latest.stdout == ""
    assert "no usable checkpoint" in latest.stderr  # refused by the command, not a missing module
    result = run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-n", "200", "-f", "logs_empty",
         "-i", latest.stdout.strip()],
        cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "-i/--trained-agent was given an empty path" in result.stderr
    assert not (tmp_path / "logs_empty").exists() or not list((tmp_path / "logs_empty").rglob("*.zip"))


def test_latest_command_prints_the_newest_checkpoint(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture) -> None:
    checkpoint_of(tmp_path, "paper_dqn", 60)
    newest = checkpoint_of(tmp_path, "paper_dqn", 80)
    assert checkpoint_main(["--latest", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{newest}\n"
    assert checkpoint_main(["--latest", "--name-prefix", "rl_model", str(tmp_path)]) == 1
    assert "no usable checkpoint rl_model_<steps>_steps.zip in" in capsys.readouterr().err


def test_callbacks_of_paper_dqn_and_of_other_algorithms(tmp_path: pathlib.Path) -> None:
    manager = experiment_manager("paper_dqn", tmp_path, save_freq=500, eval_freq=100, save_replay_buffer=True)
    manager.setup_experiment()
    (checkpoints, evaluation) = manager.callbacks
    assert type(checkpoints) is PaperCheckpointCallback and checkpoints.handle_signals
    assert (checkpoints.save_freq, checkpoints.name_prefix, checkpoints.keep_last) == (500, "rl_model", None)
    assert checkpoints.save_replay_buffer and str(checkpoints.save_path) == manager.save_path
    assert isinstance(evaluation, EvalWithOwnRandomState) and isinstance(evaluation.eval_callback, EvalCallback)

    # with a PaperCheckpointCallback in the hyperparameters, that one alone handles the signals
    in_file = {"sb3_dqn_paper.checkpoint.PaperCheckpointCallback": {"save_freq": 300, "save_path": str(tmp_path / "c")}}
    manager = experiment_manager("paper_dqn", tmp_path, save_freq=500, eval_freq=-1, hyperparams={"callback": [in_file]})
    manager.setup_experiment()
    assert [callback.handle_signals for callback in manager.callbacks] == [True, False]

    # other algorithms: rl-zoo3's own callbacks
    manager = experiment_manager("dqn", tmp_path, save_freq=500, eval_freq=100)
    manager.setup_experiment()
    assert [type(callback) for callback in manager.callbacks] == [CheckpointCallback, EvalCallback]


def learn_with(callback_factory: Any) -> dict[str, th.Tensor]:
    """Weights after 600 CartPole steps of PaperDQN with the callback ``callback_factory()`` (or none)."""
    model = PaperDQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), learning_starts=200, seed=0)
    callback = callback_factory()
    model.learn(600, callback=callback)
    if callback is not None:
        evaluations = callback.eval_callback if isinstance(callback, EvalWithOwnRandomState) else callback
        assert list(evaluations.evaluations_timesteps) == [100, 200, 300, 400, 500, 600]
    return model.policy.state_dict()


def test_evaluations_do_not_change_the_training_run(tmp_path: pathlib.Path) -> None:
    def epsilon_greedy_evaluation() -> EvalCallback:
        # as rl-zoo3 evaluates Atari agents: epsilon-greedy, from the same generators as training
        eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1)
        return EvalCallback(eval_env, eval_freq=100, n_eval_episodes=2, deterministic=False, log_path=str(tmp_path))

    without = learn_with(lambda: None)
    isolated = learn_with(lambda: EvalWithOwnRandomState(epsilon_greedy_evaluation()))
    plain = learn_with(epsilon_greedy_evaluation)
    assert all(th.equal(without[name], isolated[name]) for name in without)
    assert not all(th.equal(without[name], plain[name]) for name in without)  # what the wrapper prevents
