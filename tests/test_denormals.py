"""Denormals flushed to zero while PaperDQN learns, and the floating-point mode put back afterwards."""

import pathlib

import gymnasium as gym
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.benchmarks.denormals import count_denormals
from sb3_dqn_paper.denormals import denormals_flushed, flush_denormals
from sb3_dqn_paper.rmsprop import CenteredRMSprop

#: A float32 denormal: below the smallest normal number, 1.18e-38
DENORMAL = 1e-40


def _supported() -> bool:
    supported = th.set_flush_denormal(True)
    th.set_flush_denormal(False)
    return supported


pytestmark = pytest.mark.skipif(not _supported(), reason="this CPU has no flush-to-zero mode for torch to set")


@pytest.fixture(autouse=True)
def _mode_off() -> None:
    """Each test starts, and leaves the process, with denormals kept (torch's default)."""
    th.set_flush_denormal(False)
    yield
    th.set_flush_denormal(False)


def test_flush_denormals_scopes_the_mode() -> None:
    assert not denormals_flushed()
    assert float(th.tensor([DENORMAL]) * 1.0) > 0.0
    with flush_denormals():
        assert denormals_flushed()
        assert float(th.tensor([DENORMAL]) * 1.0) == 0.0
        assert float(th.tensor([2e-38]) * 1.0) == pytest.approx(2e-38)  # normal numbers are untouched
    assert not denormals_flushed()
    with flush_denormals(enabled=False):
        assert not denormals_flushed()


def test_flush_denormals_keeps_a_mode_set_before() -> None:
    th.set_flush_denormal(True)
    with flush_denormals():
        assert denormals_flushed()
    assert denormals_flushed()
    with flush_denormals(enabled=False):  # does not turn off what the caller set
        assert denormals_flushed()
    assert denormals_flushed()


def test_mode_is_restored_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError), flush_denormals():
        raise RuntimeError("stop")
    assert not denormals_flushed()


def test_rmsprop_state_without_denormals_once_flushed() -> None:
    """What the flush changes in PaperDQN's optimizer: tiny gradients leave denormal running averages, or zeros."""
    states = {}
    for flush in (False, True):
        weight = th.nn.Parameter(th.ones(1000))
        optimizer = CenteredRMSprop([weight], lr=2.5e-4, decay=0.95, eps=0.01)
        weight.grad = th.full((1000,), 1e-21)  # its square, 1e-42, is a denormal
        with flush_denormals(flush):
            optimizer.step()
        states[flush] = optimizer.state[weight]["square_avg"]
        # the step itself: grad / sqrt(eps) is far below the weight's resolution either way
        assert th.equal(weight.detach(), th.ones(1000))
    assert count_denormals([states[False]]) == (1000, 1000)
    assert count_denormals([states[True]]) == (0, 1000)
    assert th.equal(states[True], th.zeros(1000))


def test_count_denormals() -> None:
    values = th.tensor([0.0, DENORMAL, -1e-41, 1e-30, -2.0, 1.17e-38])
    assert count_denormals([values, th.zeros(3)]) == (3, 9)


class _RecordMode(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.modes: list[bool] = []

    def _on_step(self) -> bool:
        self.modes.append(denormals_flushed())
        return True


@pytest.mark.parametrize("flush", [True, False])
def test_learn_runs_in_the_mode_and_restores_it(flush: bool, tmp_path: pathlib.Path) -> None:
    model = PaperDQN("MlpPolicy", gym.make("CartPole-v1"), learning_starts=10, buffer_size=200, seed=0, device="cpu")
    if not flush:
        model.flush_denormal = False
    callback = _RecordMode()
    model.learn(40, callback=callback)
    assert len(callback.modes) == 40 and set(callback.modes) == {flush}
    assert not denormals_flushed()
    assert PaperDQN.flush_denormal is True  # the default
    # the choice goes with the model
    model.save(tmp_path / "model.zip")
    assert PaperDQN.load(tmp_path / "model.zip", device="cpu").flush_denormal is flush
