"""
The paper's Atari pipeline: shapes, frame skip per game, reward clipping, the unclipped score in Monitor, and the
pipeline PaperDQN builds from an Atari id.
"""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv, MaxAndSkipEnv, NoopResetEnv
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecFrameStack

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.atari import paper_frame_skip, resolve_frame_skip
from sb3_dqn_paper.errors import InvalidArgumentError


def _wrappers(env) -> dict[type, object]:
    found = {}
    layer = env.venv.envs[0]
    while hasattr(layer, "env"):
        found[type(layer)] = layer
        layer = layer.env
    return found


@pytest.mark.parametrize(
    ("env_id", "skip"),
    [("SpaceInvadersNoFrameskip-v4", 3), ("BreakoutNoFrameskip-v4", 4), ("PongNoFrameskip-v4", 4)],
)
def test_frame_skip_per_game(env_id: str, skip: int) -> None:
    assert paper_frame_skip(env_id) == skip
    env = make_paper_atari_env(env_id, seed=0)
    assert _wrappers(env)[MaxAndSkipEnv]._skip == skip
    env.close()


def test_frame_skip_default_explicit_and_refused() -> None:
    assert resolve_frame_skip("PongNoFrameskip-v4", None) == 4
    assert resolve_frame_skip("SpaceInvadersNoFrameskip-v4", None) == 3
    assert resolve_frame_skip("SpaceInvadersNoFrameskip-v4", 2) == 2
    with pytest.raises(InvalidArgumentError, match="frame_skip must be at least 1, got 0"):
        resolve_frame_skip("PongNoFrameskip-v4", 0)


def test_pipeline_shape_and_wrappers(pong_env) -> None:
    assert pong_env.observation_space.shape == (84, 84, 4)
    assert pong_env.observation_space.dtype == np.uint8
    obs = pong_env.reset()
    assert obs.shape == (1, 84, 84, 4)
    layers = _wrappers(pong_env)
    for wrapper in (Monitor, NoopResetEnv, EpisodicLifeEnv, ClipRewardEnv):
        assert wrapper in layers
    # Monitor is the innermost wrapper, so it sees raw rewards and whole games
    chain = []
    layer = pong_env.venv.envs[0]
    while hasattr(layer, "env"):
        chain.append(type(layer))
        layer = layer.env
    assert chain.index(Monitor) > chain.index(ClipRewardEnv)


def test_switches_for_the_2013_setting() -> None:
    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0, terminal_on_life_loss=False, noop_max=0, clip_reward=False)
    layers = _wrappers(env)
    assert EpisodicLifeEnv not in layers and NoopResetEnv not in layers and ClipRewardEnv not in layers
    env.close()


def test_rewards_clipped_for_training_but_episode_info_has_the_game_score() -> None:
    env = make_paper_atari_env("SpaceInvadersNoFrameskip-v4", seed=1)
    monitor = _wrappers(env)[Monitor]
    env.reset()
    rng = np.random.default_rng(0)
    clipped = []
    raw: list[float] = []
    episode_info = None
    for _ in range(3000):
        _, reward, _, infos = env.step(rng.integers(env.action_space.n, size=1))
        assert reward[0] in (-1.0, 0.0, 1.0)
        clipped.append(float(reward[0]))
        if "episode" in infos[0]:
            episode_info = infos[0]["episode"]
            break
        raw = list(monitor.rewards)  # raw rewards of each emulator frame so far (cleared by the reset at game end)
    assert episode_info is not None, "a random Space Invaders game should end within 3000 agent steps"
    raw.append(episode_info["r"] - sum(raw))  # the last step's raw reward
    # Monitor sits below the frame skip, so it sees every emulator frame of the whole game
    assert episode_info["l"] >= 3 * len(clipped)
    # the Monitor's score is the raw game score (invaders are worth 5 to 30 points); training saw only signs
    assert max(raw) >= 5 and episode_info["r"] % 5 == 0
    assert 0 < sum(clipped) <= np.count_nonzero(raw)
    assert episode_info["r"] >= 5 * sum(clipped)
    env.close()


def test_atari_id_string_builds_the_paper_pipeline(capsys: pytest.CaptureFixture) -> None:
    model = PaperDQN("CnnPolicy", "PongNoFrameskip-v4", buffer_size=100, verbose=1)
    assert "building the paper's pipeline" in capsys.readouterr().out
    assert model.observation_space.shape == (4, 84, 84)  # not raw 210x160 RGB frames
    assert model.observation_space.dtype == np.uint8
    layer = model.env
    while not isinstance(layer, VecFrameStack):
        layer = layer.venv
    reference = make_paper_atari_env("PongNoFrameskip-v4")
    assert layer.observation_space == reference.observation_space  # (84, 84, 4) uint8, as make_paper_atari_env builds
    assert [type(env).__name__ for env in _gym_wrappers(layer.venv.envs[0])] == [
        type(env).__name__ for env in _gym_wrappers(reference.venv.envs[0])
    ]
    reference.close()
    model.env.close()


def _gym_wrappers(env: gym.Env) -> list[gym.Env]:
    layers = [env]
    while isinstance(env, gym.Wrapper):
        env = env.env
        layers.append(env)
    return layers
