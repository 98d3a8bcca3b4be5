"""The paper's network: layer shapes and parameter count; image-like float input (SB3's ``test_cnn``)."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.torch_layers import NatureCNN
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize, VecTransposeImage

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.policies import PaperCNN


def _conv_out(size: int, kernel: int, stride: int) -> int:
    return (size - kernel) // stride + 1


def test_paper_cnn_layers_and_parameter_count(pong_env) -> None:
    model = PaperDQN("CnnPolicy", pong_env, buffer_size=100, learning_starts=0, device="cpu")
    extractor = model.q_net.features_extractor
    assert isinstance(extractor, PaperCNN)
    conv1, conv2 = extractor.cnn[0], extractor.cnn[2]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.stride) == (4, 16, (8, 8), (4, 4))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size, conv2.stride) == (16, 32, (4, 4), (2, 2))
    side = _conv_out(_conv_out(84, 8, 4), 4, 2)  # 84 -> 20 -> 9
    fc = extractor.linear[0]
    assert (fc.in_features, fc.out_features) == (32 * side * side, 256)
    head = model.q_net.q_net
    assert len(head) == 1 and (head[0].in_features, head[0].out_features) == (256, 6)
    expected = (4 * 16 * 8 * 8 + 16) + (16 * 32 * 4 * 4 + 32) + (32 * side * side * 256 + 256) + (256 * 6 + 6)
    assert expected == 677_686
    assert sum(p.numel() for p in model.q_net.parameters()) == expected
    # no second network without a target network
    assert model.q_net_target is None


def test_forward_shape_and_scaling() -> None:
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    cnn = PaperCNN(space)
    obs = th.as_tensor(np.stack([space.sample() for _ in range(3)])).float() / 255.0
    out = cnn(obs)
    assert out.shape == (3, 256)
    assert (out >= 0).all()  # ReLU after the fully connected layer


def test_nature_cnn_through_policy_kwargs(pong_env) -> None:
    model = PaperDQN(
        "CnnPolicy", pong_env, buffer_size=100, policy_kwargs=dict(features_extractor_class=NatureCNN), device="cpu"
    )
    assert isinstance(model.q_net.features_extractor, NatureCNN)
    assert model.q_net.q_net[0].in_features == 512


def test_paper_cnn_rejects_vector_observations() -> None:
    with pytest.raises(ValueError, match="image observations"):
        PaperCNN(spaces.Box(-1, 1, (4,), np.float32))


@pytest.mark.parametrize("normalize_images", [True, False])
def test_image_like_input(normalize_images: bool) -> None:
    # as SB3's test_cnn.py::test_image_like_input: float "images" are allowed with normalize_images=False
    def image_env() -> FakeImageEnv:
        return FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=True)

    env = VecNormalize(VecTransposeImage(DummyVecEnv([image_env])))  # float observations, channel-first
    dtype, low, high = (np.uint8, 0, 255) if normalize_images else (np.float32, -np.inf, np.inf)
    env.observation_space = spaces.Box(low=low, high=high, shape=env.observation_space.shape, dtype=dtype)
    small = dict(buffer_size=500, learning_starts=50, batch_size=16, exploration_steps=100)
    model = PaperDQN("CnnPolicy", env, policy_kwargs=dict(normalize_images=normalize_images), seed=1, **small)
    model.learn(60)
    assert model.q_net.normalize_images is normalize_images
    assert model._n_updates > 0
