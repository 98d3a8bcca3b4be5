"""
``PaperCheckpointCallback``: when it writes checkpoints, which it keeps, and how it handles signals in-process
(the kill-and-resume test with a real subprocess is in ``test_checkpoint_resume.py``).
"""

import pathlib
import signal

import pytest
import torch as th
from checkpoint_worker import make_env, make_model
from stable_baselines3.common.callbacks import BaseCallback, StopTrainingOnMaxEpisodes

from sb3_dqn_paper.checkpoint import PaperCheckpointCallback, list_checkpoints, load_checkpoint, read_checkpoint_meta


@pytest.fixture(autouse=True)
def one_thread() -> None:
    th.set_num_threads(1)


def steps_of(folder: pathlib.Path) -> list[int]:
    return [int(path.name.split("_")[-2]) for path in list_checkpoints(folder)]


class SendSignalAt(BaseCallback):
    """Send ``signum`` to this process ``times`` times once ``step`` agent steps are done."""

    def __init__(self, step: int, signum: signal.Signals, times: int = 1) -> None:
        super().__init__()
        self.step, self.signum, self.times = step, signum, times

    def _on_step(self) -> bool:
        if self.num_timesteps == self.step:
            for _ in range(self.times):
                signal.raise_signal(self.signum)
        return True


def test_checkpoints_at_multiples_of_save_freq_in_agent_steps(tmp_path: pathlib.Path) -> None:
    model = make_model("cartpole2", make_env("cartpole2", seed=0))  # 2 envs: 2 agent steps per env.step()
    model.learn(100, callback=PaperCheckpointCallback(25, tmp_path, keep_last=None))
    assert steps_of(tmp_path) == [26, 50, 76, 100]  # first rollout start at or after 25, 50, 75; and the end
    meta = read_checkpoint_meta(tmp_path / "paper_dqn_50_steps.zip")
    assert meta["num_timesteps"] == 50 and meta["n_envs"] == 2 and meta["env_state"] == "saved"
    assert meta["replay_buffer_transitions"] == 50


def test_only_the_last_k_are_kept_and_a_resumed_run_continues_the_series(tmp_path: pathlib.Path) -> None:
    model = make_model("cartpole", make_env("cartpole", seed=0))
    model.learn(100, callback=PaperCheckpointCallback(20, tmp_path, keep_last=2))
    assert steps_of(tmp_path) == [80, 100]
    resumed = load_checkpoint(tmp_path, make_env("cartpole", seed=0))
    resumed.learn(50, reset_num_timesteps=False, callback=PaperCheckpointCallback(20, tmp_path, keep_last=2))
    assert steps_of(tmp_path) == [140, 150]


def test_no_checkpoint_when_another_callback_stops_learn_mid_rollout(tmp_path: pathlib.Path) -> None:
    model = make_model("cartpole", make_env("cartpole", seed=0))
    checkpoints = PaperCheckpointCallback(40, tmp_path, keep_last=None)
    model.learn(10_000, callback=[checkpoints, StopTrainingOnMaxEpisodes(max_episodes=8)])
    # The stop comes from inside env.step's on_step, before the transition is stored: no consistent state to save
    assert model.num_timesteps not in steps_of(tmp_path)
    assert steps_of(tmp_path) == list(range(40, model.num_timesteps, 40))


class FailAtRolloutEnd(BaseCallback):
    """Raise at the end of the first rollout at or after ``step``: learn() dies between an env step and its update."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps >= self.step:
            raise RuntimeError("failure inside learn()")


def test_no_checkpoint_from_on_training_end_called_after_learn_died(tmp_path: pathlib.Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    model = make_model("cartpole", make_env("cartpole", seed=0))
    checkpoints = PaperCheckpointCallback(40, tmp_path, keep_last=None)
    with pytest.raises(RuntimeError, match="failure inside learn"):
        model.learn(100, callback=[checkpoints, FailAtRolloutEnd(50)])
    # rl-zoo3's ExperimentManager.learn calls its first callback's on_training_end in a `finally`: the state at
    # step 50 (transition stored, update not done) must not become a checkpoint, but the handlers go back
    checkpoints.on_training_end()
    assert steps_of(tmp_path) == [40]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_writes_a_checkpoint_at_the_next_rollout_and_stops(tmp_path: pathlib.Path, signum: signal.Signals) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    model = make_model("cartpole", make_env("cartpole", seed=0))
    checkpoints = PaperCheckpointCallback(1000, tmp_path, keep_last=None)
    model.learn(500, callback=[checkpoints, SendSignalAt(123, signum)])
    assert checkpoints.interrupted_by == signum
    assert steps_of(tmp_path) == [123]  # after the update of step 123, before step 124
    assert checkpoints.last_checkpoint == tmp_path / "paper_dqn_123_steps.zip"
    assert load_checkpoint(tmp_path, make_env("cartpole", seed=0)).num_timesteps == 123
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_second_ctrl_c_aborts_at_once(tmp_path: pathlib.Path) -> None:
    model = make_model("cartpole", make_env("cartpole", seed=0))
    with pytest.raises(KeyboardInterrupt):
        model.learn(500, callback=[PaperCheckpointCallback(1000, tmp_path), SendSignalAt(60, signal.SIGINT, times=2)])
    assert steps_of(tmp_path) == []
    assert not isinstance(getattr(signal.getsignal(signal.SIGINT), "__self__", None), PaperCheckpointCallback)


def test_callback_rejects_bad_arguments(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="save_freq must be a positive"):
        PaperCheckpointCallback(0, tmp_path)
    with pytest.raises(ValueError, match="keep_last must be at least 1"):
        PaperCheckpointCallback(10, tmp_path, keep_last=0)
    with pytest.raises(ValueError, match="name_prefix must be a plain file name part"):
        PaperCheckpointCallback(10, tmp_path, name_prefix="../x")
