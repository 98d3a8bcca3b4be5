"""
Policies of :class:`~sb3_dqn_paper.PaperDQN`: the 2013 paper's network and a Q-network policy whose target
network is optional.

The paper's network (Section 5, "Model Architecture"): the 84x84x4 input goes through a convolution of
16 filters 8x8 with stride 4 and a ReLU, a convolution of 32 filters 4x4 with stride 2 and a ReLU, a fully
connected layer of 256 ReLU units, and a linear output layer with one Q-value per action. With 6 actions
that is 677,686 parameters. Weights use PyTorch's default initialisation, which is the same uniform
``+-1/sqrt(fan_in)`` rule as the Torch7 defaults of DeepMind's released code.
"""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
)
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.rmsprop import DEEPMIND_DECAY, CenteredRMSprop, deepmind_eps_for_mean_loss


def paper_policy_kwargs(policy_kwargs: dict[str, Any] | None, target_network: bool, batch_size: int) -> dict[str, Any]:
    """
    The ``policy_kwargs`` PaperDQN gives its policy: the user's, with the target network switched by the algorithm and,
    unless they name an ``optimizer_class``, the paper's RMSProp with DeepMind's decay and an epsilon scaled to the
    mean loss of ``batch_size`` transitions (:func:`~sb3_dqn_paper.rmsprop.deepmind_eps_for_mean_loss`), updated by
    their ``optimizer_kwargs``.

    :param policy_kwargs: The user's ``policy_kwargs`` (``None``: none); not modified
    :param target_network: Whether the algorithm keeps a target network (``target_update_interval`` given)
    :param batch_size: Minibatch size of each update
    :return: A new dict of keyword arguments
    :raises InvalidArgumentError: for a ``target_network`` in ``policy_kwargs`` that contradicts ``target_network``
    """
    asked = (policy_kwargs or {}).get("target_network", target_network)
    if asked != target_network:
        raise InvalidArgumentError(
            f"policy_kwargs['target_network']={asked!r} contradicts target_update_interval: "
            "PaperDQN keeps a target network exactly when target_update_interval is given (None: the paper, none)"
        )
    kwargs = {**(policy_kwargs or {}), "target_network": target_network}
    if "optimizer_class" not in kwargs:
        optimizer_kwargs = dict(decay=DEEPMIND_DECAY, eps=deepmind_eps_for_mean_loss(batch_size))
        optimizer_kwargs.update(kwargs.get("optimizer_kwargs") or {})
        kwargs.update(optimizer_class=CenteredRMSprop, optimizer_kwargs=optimizer_kwargs)
    return kwargs


class PaperCNN(BaseFeaturesExtractor):
    """
    The feature extractor of Mnih et al. (2013): conv 16x8x8/4, conv 32x4x4/2, fully connected 256, ReLU after each.

    :param observation_space: An image space, channel-first (as SB3 presents it to the network)
    :param features_dim: Units of the fully connected layer (256 in the paper)
    :param normalized_image: Whether the observation is already in [0, 1] (skips the uint8 space check)
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 256, normalized_image: bool = False) -> None:
        if not is_image_space(observation_space, check_channels=False, normalized_image=normalized_image):
            raise InvalidArgumentError(
                "PaperCNN (CnnPolicy) needs image observations (a uint8 Box of shape (C, H, W) or (H, W, C)), "
                f"got {observation_space}. Use 'MlpPolicy' for vector observations."
            )
        super().__init__(observation_space, features_dim)
        n_input_channels = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(n_input_channels, 16, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with th.no_grad():
            n_flatten = self.cnn(th.as_tensor(observation_space.sample()[None]).float()).shape[1]
        self.linear = nn.Sequential(nn.Linear(n_flatten, features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(observations))


class PaperDQNPolicy(DQNPolicy):
    """
    SB3's DQN policy with the target network made optional.

    The 2013 paper has no target network: its TD target uses the current weights. With
    ``target_network=False`` (the default) ``q_net_target`` is ``None`` and no second network is built.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param net_arch: Hidden layers between the features and the Q-values (``[]`` after a CNN)
    :param activation_fn: Activation function
    :param features_extractor_class: Features extractor to use
    :param features_extractor_kwargs: Keyword arguments to pass to the features extractor
    :param normalize_images: Whether to divide images by 255
    :param optimizer_class: The optimizer to use
    :param optimizer_kwargs: Additional keyword arguments, excluding the learning rate, to pass to the optimizer
    :param target_network: Whether to keep a separate target network (a 2015 Nature-paper addition)
    """

    q_net_target: QNetwork | None  # type: ignore[assignment]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        target_network: bool = False,
    ) -> None:
        self.target_network = target_network
        if net_arch is None and features_extractor_class in (PaperCNN, NatureCNN):
            net_arch = []
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
        )

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the Q-network, the target network if asked for, and the optimizer.

        :param lr_schedule: Learning rate schedule; ``lr_schedule(1)`` is the initial learning rate
        """
        self.q_net = self.make_q_net()
        self.q_net_target = None
        if self.target_network:
            self.q_net_target = self.make_q_net()
            self.q_net_target.load_state_dict(self.q_net.state_dict())
            self.q_net_target.set_training_mode(False)
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.q_net.parameters(),
            lr=lr_schedule(1),
            **self.optimizer_kwargs,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(target_network=self.target_network)
        return data


MlpPolicy = PaperDQNPolicy


class CnnPolicy(PaperDQNPolicy):
    """
    Policy for image observations, with the 2013 paper's network (:class:`PaperCNN`) by default.

    Parameters as in :class:`PaperDQNPolicy`; pass ``features_extractor_class=NatureCNN`` in
    ``policy_kwargs`` for the 2015 network.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = PaperCNN,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        target_network: bool = False,
    ) -> None:
        if not normalize_images and issubclass(features_extractor_class, PaperCNN):
            # As SB3 does for NatureCNN: images already normalised may be float, so skip the uint8 check
            features_extractor_kwargs = {"normalized_image": True, **(features_extractor_kwargs or {})}
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
            target_network,
        )


class MultiInputPolicy(PaperDQNPolicy):
    """
    Policy for dict observations (SB3's ``CombinedExtractor``). Parameters as in :class:`PaperDQNPolicy`.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Schedule,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        target_network: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
            target_network,
        )


__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "PaperCNN", "PaperDQNPolicy"]
