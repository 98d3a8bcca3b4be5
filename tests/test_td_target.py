"""
The TD target of ``PaperDQN.train``: online weights without a target network (the paper), target weights with one,
and SB3's n-step returns where asked (``n_steps > 1``, not the paper).
"""

from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.buffers import NStepReplayBuffer
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack
from torch.nn import functional as F
from updates import train_on

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.replay_buffer import FrameStackReplayBuffer


def _batch(n: int = 16, dones: np.ndarray | None = None) -> ReplayBufferSamples:
    rng = np.random.default_rng(0)
    tensor = lambda array: th.as_tensor(array, dtype=th.float32)  # noqa: E731
    return ReplayBufferSamples(
        observations=tensor(rng.normal(size=(n, 4))),
        actions=th.as_tensor(rng.integers(0, 2, size=(n, 1))),
        next_observations=tensor(rng.normal(size=(n, 4))),
        dones=tensor(rng.integers(0, 2, size=(n, 1)) if dones is None else dones),
        rewards=tensor(rng.normal(size=(n, 1))),
    )


def _reference_loss(q_net: th.nn.Module, target_net: th.nn.Module, data: ReplayBufferSamples, gamma: float) -> float:
    """``mean((r + gamma (1 - done) max_a' Q_target(s', a') - Q(s, a))^2)``, the maximum taken in Python."""
    with th.no_grad():
        best = th.tensor([[max(row)] for row in target_net(data.next_observations).tolist()])
        target = data.rewards + gamma * (1 - data.dones) * best
        return F.mse_loss(q_net(data.observations).gather(1, data.actions), target).item()


def test_no_target_network_uses_online_weights() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", gamma=0.9, seed=0, device="cpu")
    assert model.q_net_target is None
    data = _batch()
    expected = _reference_loss(model.q_net, model.q_net, data, 0.9)
    assert train_on(model, data) == pytest.approx(expected, rel=1e-6)
    # the step moved the online weights, and with them the next target
    after_step = _reference_loss(model.q_net, model.q_net, data, 0.9)
    assert after_step != pytest.approx(expected, rel=1e-3)
    assert train_on(model, data) == pytest.approx(after_step, rel=1e-6)


def test_terminal_transitions_target_the_reward() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", gamma=0.9, seed=0, device="cpu")
    data = _batch(dones=np.ones((16, 1)))
    with th.no_grad():
        expected = F.mse_loss(model.q_net(data.observations).gather(1, data.actions), data.rewards).item()
    assert train_on(model, data) == pytest.approx(expected, rel=1e-6)


def test_target_network_uses_target_weights_and_syncs() -> None:
    model = PaperDQN(
        "MlpPolicy", "CartPole-v1", gamma=0.9, target_update_interval=50, learning_starts=1000, seed=0, device="cpu"
    )
    assert model.q_net_target is not None
    with th.no_grad():
        for p in model.q_net.parameters():
            p.add_(0.5)  # online now differs from target
    data = _batch()
    with_target = _reference_loss(model.q_net, model.q_net_target, data, 0.9)
    assert with_target != pytest.approx(_reference_loss(model.q_net, model.q_net, data, 0.9), rel=1e-3)
    assert train_on(model, data) == pytest.approx(with_target, rel=1e-6)
    # (no updates before learning_starts) after 49 steps no sync; at step 50 the target becomes a copy
    model.learn(49)
    assert any(not th.equal(a, b) for a, b in zip(model.q_net.parameters(), model.q_net_target.parameters(), strict=True))
    model.learn(1, reset_num_timesteps=False)
    assert all(th.equal(a, b) for a, b in zip(model.q_net.parameters(), model.q_net_target.parameters(), strict=True))


def test_n_step_returns_use_sb3_buffer_and_its_discounts() -> None:
    # n_steps > 1 (not the paper): SB3's NStepReplayBuffer, whose samples carry gamma**k per transition
    model = PaperDQN("MlpPolicy", "CartPole-v1", n_steps=3, gamma=0.9, buffer_size=500, learning_starts=50, seed=0)
    model.learn(120)
    assert isinstance(model.replay_buffer, NStepReplayBuffer) and model.replay_buffer.n_steps == 3
    data = model.replay_buffer.sample(16)
    assert data.discounts is not None and set(np.round(data.discounts.flatten().tolist(), 6)) <= {0.9, 0.81, 0.729}
    with th.no_grad():
        best = model.q_net(data.next_observations).max(dim=1, keepdim=True).values
        target = data.rewards + (1 - data.dones) * data.discounts * best
        expected = F.mse_loss(model.q_net(data.observations).gather(1, data.actions), target).item()
    assert train_on(model, data) == pytest.approx(expected, rel=1e-6)


def test_n_step_returns_on_frame_stacks_use_sb3_buffer() -> None:
    env = VecFrameStack(DummyVecEnv([lambda: FakeImageEnv(screen_height=84, screen_width=84, n_channels=1)]), 4)
    assert isinstance(PaperDQN("CnnPolicy", env, buffer_size=100).replay_buffer, FrameStackReplayBuffer)
    model = PaperDQN("CnnPolicy", env, n_steps=2, buffer_size=100)
    assert isinstance(model.replay_buffer, NStepReplayBuffer) and model.replay_buffer.n_steps == 2


@pytest.mark.parametrize("n_steps", [0, -1, 2.5])
def test_n_steps_below_one_or_fractional_refused(n_steps: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="n_steps"):
        PaperDQN("MlpPolicy", "CartPole-v1", n_steps=n_steps)


def test_target_network_in_policy_kwargs_must_agree_with_interval() -> None:
    with pytest.raises(InvalidArgumentError, match=r"policy_kwargs\['target_network'\]=True contradicts"):
        PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(target_network=True))
    with pytest.raises(InvalidArgumentError, match=r"policy_kwargs\['target_network'\]=False contradicts"):
        PaperDQN("MlpPolicy", "CartPole-v1", target_update_interval=100, policy_kwargs=dict(target_network=False))
    model = PaperDQN("MlpPolicy", "CartPole-v1", target_update_interval=100, policy_kwargs=dict(target_network=True))
    assert model.q_net_target is not None
    without = PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=model.policy_kwargs | {"target_network": False})
    assert without.q_net_target is None
