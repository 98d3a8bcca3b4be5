"""
Each bad input is refused with a message naming the problem, before any training starts (a learning-rate schedule
that turns non-finite during training: before the optimizer step), and every refusal is a ``PaperDQNError`` that is
still a ``ValueError``. Settings SB3's ``DQN`` accepts but that learn nothing are refused too.
"""

import pathlib
import struct
import zipfile
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.utils import ConstantSchedule, LinearSchedule
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.checkpoint import PaperCheckpointCallback
from sb3_dqn_paper.errors import (
    InvalidArgumentError,
    InvalidModelFileError,
    NonFiniteLossError,
    PaperDQNError,
    UnknownEnvironmentError,
    UnsupportedObservationError,
)


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


# --- learning rates: zero or non-finite, whatever their form ----------------------------------------------------------


@pytest.mark.parametrize(
    "learning_rate",
    [0, 0.0, -1e-4, float("nan"), float("inf"), np.float32(0.0), ConstantSchedule(0.0), LinearSchedule(0.0, 0.0, 1.0)],
    ids=["int0", "float0", "negative", "nan", "inf", "np0", "ConstantSchedule0", "LinearSchedule0"],
)
def test_learning_rate_that_learns_nothing_is_refused(learning_rate: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="learning_rate"):
        PaperDQN("MlpPolicy", "CartPole-v1", learning_rate=learning_rate)


def test_learning_rate_schedules_that_learn_are_accepted() -> None:
    # decaying to 0 at the end of training is a common schedule and learns until then
    for learning_rate in (lambda progress: 1e-3 * progress, LinearSchedule(1e-3, 0.0, 1.0), ConstantSchedule(1e-4)):
        PaperDQN("MlpPolicy", "CartPole-v1", learning_rate=learning_rate, buffer_size=100)
    with pytest.raises(InvalidArgumentError, match=r"gives nan at progress_remaining=0\.5"):
        PaperDQN("MlpPolicy", "CartPole-v1", learning_rate=lambda p: 1e-3 if p != 0.5 else float("nan"))


def test_a_schedule_that_turns_nan_between_the_checked_points_stops_before_the_step() -> None:
    """nan for 0.55 < progress < 0.65 passes the checks at 1, .75, .5, .25, 0: the update is refused when it comes."""

    def schedule(progress: float) -> float:
        return float("nan") if 0.55 < progress < 0.65 else 1e-3

    model = PaperDQN("MlpPolicy", "CartPole-v1", learning_starts=100, learning_rate=schedule, seed=0, device="cpu")
    with pytest.raises(InvalidArgumentError, match=r"gives nan at progress_remaining=0\.6.*stopped before the optimizer"):
        model.learn(1500)
    # progress_remaining = 1 - steps / 1500 falls below 0.65 after step 525: the update of step 526 is refused, after
    # the 425 updates of steps 101 to 525, and every weight is finite
    assert model.num_timesteps == 526 and model._n_updates == 425
    assert all(np.isfinite(parameter.detach().numpy()).all() for parameter in model.policy.parameters())
    assert all(group["lr"] == 1e-3 for group in model.policy.optimizer.param_groups)


def test_load_refuses_a_zero_learning_rate(tmp_path: pathlib.Path) -> None:
    PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=100).save(tmp_path / "model.zip")
    with pytest.raises(InvalidArgumentError, match="learning_rate"):
        PaperDQN.load(tmp_path / "model.zip", learning_rate=0.0)
    # rl-zoo3's enjoy loads to predict only, replacing the saved schedule by 0: allowed
    model = PaperDQN.load(tmp_path / "model.zip", custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0})
    assert model.learning_rate == 0.0


# --- one error family ----------------------------------------------------------------------------------------------

REFUSALS = {
    "PaperDQN buffer_size=0": lambda: PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=0),
    "PaperDQN unknown env id": lambda: PaperDQN("MlpPolicy", "NoSuchEnv-v0"),
    "PaperDQN Box action space": lambda: PaperDQN("MlpPolicy", "Pendulum-v1"),
    "PaperDQN CnnPolicy on vectors": lambda: PaperDQN("CnnPolicy", "CartPole-v1"),
    "PaperDQN td_forward": lambda: PaperDQN("MlpPolicy", "CartPole-v1", td_forward="x"),
    "make_paper_atari_env unknown id": lambda: make_paper_atari_env("NoSuchGameNoFrameskip-v4"),
    "make_paper_atari_env n_envs=0": lambda: make_paper_atari_env("PongNoFrameskip-v4", n_envs=0),
    "make_paper_atari_env v5 id": lambda: make_paper_atari_env("ALE/Pong-v5"),
    "PaperCheckpointCallback save_freq=0": lambda: PaperCheckpointCallback(save_freq=0, save_path="x"),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_every_refusal_is_a_paper_dqn_error_and_still_a_value_error(refusal: str) -> None:
    with pytest.raises(PaperDQNError) as error:
        REFUSALS[refusal]()
    assert isinstance(error.value, ValueError)  # `except ValueError` code written before keeps working


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: make_paper_atari_env("CartPole-v1"), UnknownEnvironmentError, "CartPole-v1 is not an Atari game"),
        (lambda: PaperDQN("MlpPolicy", "CartPole-v1", train_freq=0), InvalidArgumentError, "train_freq must be at least 1"),
        (
            lambda: PaperDQN("MlpPolicy", "CartPole-v1", train_freq=(4, "epoch")),
            InvalidArgumentError,
            "train_freq's unit must be 'step' or 'episode'",
        ),
        (
            lambda: PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch="abc")),
            InvalidArgumentError,
            r"net_arch'\] must be a list of positive layer sizes",
        ),
        (
            lambda: PaperDQN("MlpPolicy", "CartPole-v1", policy_kwargs=dict(net_arch=[64, 0])),
            InvalidArgumentError,
            "net_arch",
        ),
    ],
    ids=["atari-env-of-cartpole", "train_freq=0", "train_freq-unit", "net_arch=abc", "net_arch-zero"],
)
def test_clear_errors_instead_of_tracebacks(make: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()


# --- settings that would silently do something else ----------------------------------------------------------------


def test_frame_stack_along_the_wrong_axis_is_refused() -> None:
    def frames() -> gym.Env:
        return FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=True)  # (36, 36, 1): channel-last

    wrong = VecFrameStack(DummyVecEnv([frames]), n_stack=4, channels_order="first")
    assert wrong.observation_space.shape == (144, 36, 1)  # SB3 stacks along the height, without a word
    with pytest.raises(UnsupportedObservationError, match=r"channels_order='last'"):
        PaperDQN("CnnPolicy", wrong)
    right = VecFrameStack(DummyVecEnv([frames]), n_stack=4)
    assert PaperDQN("CnnPolicy", right, buffer_size=100).observation_space.shape == (4, 36, 36)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exploration_steps": float("nan")}, "exploration_steps must be a whole number"),
        ({"learning_starts": float("nan")}, "learning_starts must be a whole number"),
        ({"buffer_size": 2.5}, "buffer_size must be an integer"),
        ({"buffer_size": 1e3}, "buffer_size must be an integer"),  # SB3 would fail later, in np.zeros
        ({"gradient_steps": 0}, "gradient_steps must be -1 .* or at least 1, got 0: .* never learn"),
        ({"gradient_steps": -2}, "gradient_steps must be -1"),
    ],
)
def test_silently_useless_settings_are_refused(kwargs: dict, message: str) -> None:
    if kwargs == {"gradient_steps": 0}:
        DQN("MlpPolicy", "CartPole-v1", buffer_size=100, **kwargs)  # SB3's DQN accepts it and trains nothing
    with pytest.raises(InvalidArgumentError, match=message):
        PaperDQN("MlpPolicy", "CartPole-v1", **kwargs)


def test_whole_floats_from_config_files_still_work() -> None:
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=1000, exploration_steps=1e3, learning_starts=0.0)
    model.learn(20)
    assert model.num_timesteps == 20 and model._n_updates == 20
