"""The TD target: online weights without a target network (the paper), target weights with one (Nature)."""

import numpy as np
import torch as th

from sb3_dqn_paper import PaperDQN


def _batch(model: PaperDQN, n: int = 16) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    rng = np.random.default_rng(0)
    next_obs = th.as_tensor(rng.normal(size=(n, 4)), dtype=th.float32)
    rewards = th.as_tensor(rng.normal(size=(n, 1)), dtype=th.float32)
    dones = th.as_tensor(rng.integers(0, 2, size=(n, 1)), dtype=th.float32)
    return rewards, dones, next_obs


def _reference(q_net: th.nn.Module, rewards: th.Tensor, dones: th.Tensor, next_obs: th.Tensor, gamma: float) -> th.Tensor:
    with th.no_grad():
        q_next = q_net(next_obs)
    best = th.tensor([[max(row)] for row in q_next.tolist()])
    return rewards + gamma * (1 - dones) * best


def test_no_target_network_uses_online_weights() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", gamma=0.9, seed=0, device="cpu")
    assert model.q_net_target is None
    rewards, dones, next_obs = _batch(model)
    target = model.td_target(rewards, dones, next_obs)
    assert not target.requires_grad
    assert th.allclose(target, _reference(model.q_net, rewards, dones, next_obs, 0.9))
    # changing the online weights changes the target
    with th.no_grad():
        for p in model.q_net.parameters():
            p.add_(0.5)
    assert not th.allclose(target, model.td_target(rewards, dones, next_obs))
    # terminal transitions: y = r
    done_rows = dones.squeeze(1) == 1
    assert th.equal(target[done_rows], rewards[done_rows])


def test_target_network_uses_target_weights_and_syncs() -> None:
    model = PaperDQN(
        "MlpPolicy", "CartPole-v1", gamma=0.9, target_update_interval=50, learning_starts=1000, seed=0, device="cpu"
    )
    assert model.q_net_target is not None
    rewards, dones, next_obs = _batch(model)
    with th.no_grad():
        for p in model.q_net.parameters():
            p.add_(0.5)  # online now differs from target
    target = model.td_target(rewards, dones, next_obs)
    assert th.allclose(target, _reference(model.q_net_target, rewards, dones, next_obs, 0.9))
    assert not th.allclose(target, _reference(model.q_net, rewards, dones, next_obs, 0.9))
    # (no updates before learning_starts) after 49 steps no sync; at step 50 the target becomes a copy
    model.learn(49)
    assert any(not th.equal(a, b) for a, b in zip(model.q_net.parameters(), model.q_net_target.parameters(), strict=True))
    model.learn(1, reset_num_timesteps=False)
    assert all(th.equal(a, b) for a, b in zip(model.q_net.parameters(), model.q_net_target.parameters(), strict=True))
