"""
Layers whose output depends on the training mode (batch norm, dropout), as SB3's ``test_train_eval_mode``: training
updates the batch-norm statistics, a target network copies them at each sync, and predict() runs in eval mode.
"""

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn

from sb3_dqn_paper import PaperDQN


class FlattenBatchNormDropoutExtractor(BaseFeaturesExtractor):
    """Flatten, batch norm and dropout: layers whose output depends on the training mode."""

    def __init__(self, observation_space: spaces.Box) -> None:
        super().__init__(observation_space, FlattenExtractor(observation_space).features_dim)
        self.flatten = nn.Flatten()
        self.batch_norm = nn.BatchNorm1d(self._features_dim)
        self.dropout = nn.Dropout(0.5)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.dropout(self.batch_norm(self.flatten(observations)))


def batch_norm_stats(model: PaperDQN) -> tuple[th.Tensor, ...]:
    online, target = model.q_net.features_extractor.batch_norm, model.q_net_target.features_extractor.batch_norm
    return tuple(x.detach().clone() for x in (online.bias, online.running_mean, target.bias, target.running_mean))


def test_train_with_batch_norm_and_tau_zero() -> None:
    # SB3's test_dqn_train_with_batch_norm reads the target network: PaperDQN has one only with target_update_interval
    model = PaperDQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=[16, 16], features_extractor_class=FlattenBatchNormDropoutExtractor),
        learning_starts=0,
        buffer_size=500,
        seed=1,
        tau=0,
        target_update_interval=100,
    )
    bias, running_mean, target_bias, target_running_mean = batch_norm_stats(model)
    model.learn(200)
    bias_after, running_mean_after, target_bias_after, target_running_mean_after = batch_norm_stats(model)
    assert not th.isclose(bias, bias_after).all()
    assert not th.isclose(running_mean, running_mean_after).all()
    assert th.equal(target_bias, target_bias_after)  # tau=0: the target's weights never move
    assert not th.isclose(target_running_mean, target_running_mean_after).all()  # its batch-norm statistics are copied


def test_predict_is_deterministic_in_eval_mode() -> None:
    model = PaperDQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(net_arch=[16], features_extractor_class=FlattenBatchNormDropoutExtractor),
        buffer_size=200,
        learning_starts=0,
        seed=1,
    )
    model.learn(64)
    obs = np.tile(model.env.reset(), (8, 1)) + np.linspace(0, 0.5, 8)[:, None].astype(np.float32)
    first, _ = model.predict(obs, deterministic=True)
    assert not model.policy.training  # predict switches to eval mode: dropout off, batch-norm running statistics
    assert all(np.array_equal(first, model.predict(obs, deterministic=True)[0]) for _ in range(5))
    assert model.q_net_target is None  # no target network by default (the paper's TD target uses the online weights)
