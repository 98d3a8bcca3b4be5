"""policy_kwargs as SB3's ``test_custom_policy`` uses them: layer sizes, activation, optimizer and its arguments."""

import torch as th
from torch import nn

from sb3_dqn_paper import PaperDQN


def test_custom_policy_net_arch_activation_and_optimizer() -> None:
    model = PaperDQN(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(
            net_arch=[12, 8],
            activation_fn=nn.Tanh,
            optimizer_class=th.optim.RMSprop,
            optimizer_kwargs=dict(eps=1e-5, alpha=0.99),
        ),
        buffer_size=500,
        learning_starts=50,
        batch_size=16,
        exploration_steps=100,
    )
    linears = [layer for layer in model.q_net.q_net if isinstance(layer, nn.Linear)]
    assert [layer.out_features for layer in linears] == [12, 8, 2]
    assert any(isinstance(layer, nn.Tanh) for layer in model.q_net.q_net)
    assert type(model.policy.optimizer) is th.optim.RMSprop
    assert model.policy.optimizer.defaults["eps"] == 1e-5
    model.learn(60)
