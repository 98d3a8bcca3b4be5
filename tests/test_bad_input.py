"""Each bad input is refused with a message naming the problem, before any training starts."""

import struct
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.errors import InvalidArgumentError, InvalidModelFileError, NonFiniteLossError, UnknownEnvironmentError


def test_continuous_action_space() -> None:
    with pytest.raises(ValueError, match=r"Discrete action space.*Box"):
        PaperDQN("MlpPolicy", "Pendulum-v1")


def test_multidiscrete_action_space() -> None:
    env = gym.make("CartPole-v1")
    env.action_space = gym.spaces.MultiDiscrete([2, 2])
    with pytest.raises(ValueError, match=r"Discrete action space.*MultiDiscrete"):
        PaperDQN("MlpPolicy", env)


def test_cnn_policy_on_vector_observations() -> None:
    with pytest.raises(ValueError, match=r"CnnPolicy needs image observations.*MlpPolicy"):
        PaperDQN("CnnPolicy", "CartPole-v1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 64, "buffer_size": 32}, r"batch_size \(64\) cannot exceed buffer_size \(32\)"),
        ({"buffer_size": 0}, "buffer_size must be positive"),
        ({"buffer_size": -5}, "buffer_size must be positive"),
        ({"batch_size": 0}, "batch_size must be positive"),
        ({"learning_rate": 0.0}, "learning_rate must be positive"),
        ({"learning_rate": -1e-3}, "learning_rate must be positive"),
        ({"exploration_initial_eps": 0.05, "exploration_final_eps": 0.1}, "exploration_initial_eps .* must be >="),
        ({"exploration_final_eps": 1.5}, r"exploration_final_eps must be in \[0, 1\]"),
        ({"gamma": 1.5}, "gamma"),
        ({"loss": "l1"}, "loss must be one of"),
        ({"target_update_interval": 0}, "target_update_interval must be positive"),
        ({"target_update_interval": float("nan")}, "target_update_interval .* whole number of agent steps, got nan"),
        ({"target_update_interval": 2.5}, "target_update_interval .* whole number of agent steps, got 2.5"),
        ({"target_update_interval": float("inf")}, "target_update_interval .* got inf"),
        ({"stats_window_size": 0}, "stats_window_size must be a positive integer"),
        ({"stats_window_size": 2.5}, "stats_window_size must be a positive integer"),
        ({"seed": 2.5}, r"seed must be None or a whole number in \[0, 2\*\*32\), got 2.5"),
        ({"seed": float("nan")}, "seed must be None or a whole number"),
        ({"seed": -1}, "seed must be None or a whole number"),
        ({"seed": 2**32}, "seed must be None or a whole number"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be positive"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the check comes before the env is built: a make_env that fails loudly proves it
    def no_env(*args, **kw):
        raise AssertionError("env built before the arguments were checked")

    monkeypatch.setattr("sb3_dqn_paper.paper_dqn.make_env_from_id", no_env)
    with pytest.raises(ValueError, match=message):
        PaperDQN("MlpPolicy", "CartPole-v1", **kwargs)


def test_whole_number_intervals_from_config_files_are_accepted() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, target_update_interval=1e4, device="cpu")
    assert model.target_update_interval == 1e4 and model.q_net_target is not None


@pytest.mark.parametrize("total_timesteps", [float("nan"), 2.5, -1, "100"])
def test_learn_refuses_a_step_count_that_is_not_a_whole_number(total_timesteps: object) -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, learning_starts=10, device="cpu")
    with pytest.raises(InvalidArgumentError, match="total_timesteps must be a whole number of agent steps >= 0"):
        model.learn(total_timesteps)  # type: ignore[arg-type]
    assert model.num_timesteps == 0


class _ImageEnv(gym.Env):
    """An env whose observations are random samples of ``space``."""

    def __init__(self, space: gym.Space) -> None:
        self.observation_space, self.action_space = space, gym.spaces.Discrete(3)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple:
        return self.observation_space.sample(), {}

    def step(self, action: int) -> tuple:
        return self.observation_space.sample(), 0.0, False, False, {}


@pytest.mark.parametrize(
    ("policy", "space", "message"),
    [
        (
            "CnnPolicy",
            gym.spaces.Box(0, 255, (8, 8, 1), np.uint8),
            r"8x8 pixels .*\(PaperCNN\): its convolutions need at least 20x20",
        ),
        ("CnnPolicy", gym.spaces.Box(0, 255, (19, 40, 1), np.uint8), r"images of 19x40 pixels .* at least 20x20"),
        (
            "MultiInputPolicy",
            gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (16, 16, 1), np.uint8), "v": gym.spaces.Box(-1, 1, (3,))}),
            r"the observation 'image' are images of 16x16 pixels .* CombinedExtractor .* at least 36x36",
        ),
    ],
    ids=["8x8", "19x40", "dict16x16"],
)
def test_images_too_small_for_the_network_are_refused_before_it_is_built(
    policy: str, space: gym.Space, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sb3_dqn_paper.errors import UnsupportedObservationError
    from sb3_dqn_paper.policies import PaperDQNPolicy

    def no_network(*args, **kwargs):
        raise AssertionError("the network was built before the observations were checked")

    monkeypatch.setattr(PaperDQNPolicy, "__init__", no_network)
    with pytest.raises(UnsupportedObservationError, match=message):
        PaperDQN(policy, _ImageEnv(space), buffer_size=100, device="cpu")


def test_the_smallest_images_the_networks_take_are_accepted() -> None:
    for policy, space in [
        ("CnnPolicy", gym.spaces.Box(0, 255, (20, 20, 1), np.uint8)),
        ("MultiInputPolicy", gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (36, 36, 1), np.uint8)})),
    ]:
        model = PaperDQN(policy, _ImageEnv(space), buffer_size=100, device="cpu")
        obs = model.env.reset()
        assert model.predict(obs, deterministic=True)[0].shape == (1,)


def test_unknown_env_id() -> None:
    with pytest.raises(ValueError, match="Unknown environment id 'NoSuchGameNoFrameskip-v4'"):
        make_paper_atari_env("NoSuchGameNoFrameskip-v4")
    # one error family: an unknown id given to PaperDQN is a PaperDQNError (and a ValueError), not gymnasium's NameNotFound
    with pytest.raises(UnknownEnvironmentError, match="Unknown environment id 'NoSuchEnv-v0'"):
        PaperDQN("MlpPolicy", "NoSuchEnv-v0")


def test_frame_skipping_and_sticky_ids_refused() -> None:
    with pytest.raises(ValueError, match="skips 4 frames by itself"):
        make_paper_atari_env("ALE/Pong-v5")
    with pytest.raises(ValueError, match="sticky actions"):
        make_paper_atari_env("ALE/Pong-v5", env_kwargs=dict(frameskip=1))


def test_load_rejects_files_that_are_not_paper_dqn(tmp_path) -> None:
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    with pytest.raises(InvalidModelFileError, match="not a zip file"):
        PaperDQN.load(text)
    with pytest.raises(InvalidModelFileError, match="no such model file"):
        PaperDQN.load(tmp_path / "missing.zip")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other", "x")
    with pytest.raises(InvalidModelFileError, match="no SB3 'data' entry"):
        PaperDQN.load(empty)
    DQN("MlpPolicy", "CartPole-v1", buffer_size=100).save(tmp_path / "sb3_dqn")
    with pytest.raises(InvalidModelFileError, match=r"not saved by PaperDQN.*DQNPolicy"):
        PaperDQN.load(tmp_path / "sb3_dqn")


def test_non_finite_loss_stops_before_the_weights_change() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, seed=0, device="cpu")
    model.learn(60)
    before = [p.detach().clone() for p in model.q_net.parameters()]
    with th.no_grad():
        model.replay_buffer.rewards[:] = np.nan
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at update \d+") as error:
        model.learn(10, reset_num_timesteps=False)
    assert all(th.equal(a, b) for a, b in zip(before, model.q_net.parameters(), strict=True))
    # the advice fits the cause: the rewards, not the learning rate
    assert "non-finite rewards: check the env's rewards" in str(error.value)
    assert "Lower the learning rate" not in str(error.value)


def test_a_diverging_network_is_advised_a_lower_learning_rate() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, seed=0, device="cpu")
    model.learn(60)
    with th.no_grad():
        model.q_net.q_net[-1].weight.fill_(1e38)  # Q-values overflow to inf with finite rewards and observations
    with pytest.raises(NonFiniteLossError, match=r"loss became (nan|inf) .* Lower the learning rate"):
        model.learn(10, reset_num_timesteps=False)


def test_load_with_a_mismatched_env_raises_sb3_s_space_error(tmp_path) -> None:
    """A sound file loaded with an env of other spaces is SB3's space-mismatch ValueError, not a 'damaged file'."""
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, learning_starts=10, device="cpu").save(tmp_path / "cartpole")
    with pytest.raises(ValueError, match="Observation spaces do not match") as raised:
        PaperDQN.load(tmp_path / "cartpole", env=gym.make("Acrobot-v1"), device="cpu")
    assert not isinstance(raised.value, InvalidModelFileError)
    # the same file loads with the env it was saved for
    assert PaperDQN.load(tmp_path / "cartpole", env=gym.make("CartPole-v1"), device="cpu").observation_space.shape == (4,)


def test_load_reports_a_damaged_weights_entry_as_a_damaged_file(tmp_path) -> None:
    """One changed byte in policy.pth: its CRC no longer matches, which is reported as a damaged model file."""
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100, learning_starts=10, device="cpu").save(tmp_path / "model.zip")
    with zipfile.ZipFile(tmp_path / "model.zip") as archive:
        info = archive.getinfo("policy.pth")
    content = bytearray((tmp_path / "model.zip").read_bytes())
    name_length, extra_length = struct.unpack("<HH", content[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_length + extra_length  # the entry's data, after its local header
    content[start + info.compress_size // 2] ^= 0xFF
    (tmp_path / "model.zip").write_bytes(bytes(content))
    with pytest.raises(InvalidModelFileError, match="is damaged"):
        PaperDQN.load(tmp_path / "model.zip", env=gym.make("CartPole-v1"), device="cpu")
