"""
The fast env backend (ale-py's AtariVectorEnv behind SB3's VecEnv) gives what make_paper_atari_env gives: the same
observation shapes and dtypes, rewards clipped to their sign, done at each life loss, and the unclipped score of the
whole game in info["episode"] at game over.
"""

import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecTransposeImage

from sb3_dqn_paper.ale_vector_env import AleVecEnv, make_ale_vector_env
from sb3_dqn_paper.atari import make_paper_atari_env


def play(env, steps: int, seed: int = 0):
    """Random actions for ``steps`` steps; return observations seen, rewards, dones and infos per step."""
    rng = np.random.default_rng(seed)
    first = env.reset()
    records = []
    for _ in range(steps):
        actions = rng.integers(env.action_space.n, size=env.num_envs)
        obs, rewards, dones, infos = env.step(actions)
        records.append((obs, rewards, dones, infos))
    return first, records


@pytest.mark.parametrize("n_envs", [1, 2])
def test_same_observations_shapes_and_spaces_as_the_paper_pipeline(n_envs):
    fast = make_ale_vector_env("BreakoutNoFrameskip-v4", n_envs=n_envs, seed=0)
    # PaperDQN sees the SB3 pipeline through VecTransposeImage (channel-first), which the fast backend is natively
    reference = VecTransposeImage(make_paper_atari_env("BreakoutNoFrameskip-v4", n_envs=n_envs, seed=0))
    assert fast.observation_space == reference.observation_space
    assert fast.action_space == reference.action_space
    assert fast.num_envs == reference.num_envs == n_envs
    for env in (fast, reference):
        first, records = play(env, 20)
        assert first.shape == (n_envs, 4, 84, 84) and first.dtype == np.uint8
        obs, rewards, dones, infos = records[-1]
        assert obs.shape == (n_envs, 4, 84, 84) and obs.dtype == np.uint8
        assert rewards.shape == (n_envs,) and dones.shape == (n_envs,) and dones.dtype == bool
        assert len(infos) == n_envs
        env.close()


@pytest.mark.slow
def test_rewards_are_clipped_and_the_game_score_is_not():
    """Space Invaders pays 5 to 30 points per invader: clipped to 1 per step, unclipped in the episode info."""
    clipped = AleVecEnv("SpaceInvadersNoFrameskip-v4", seed=3)
    raw = AleVecEnv("SpaceInvadersNoFrameskip-v4", seed=3, clip_reward=False)
    assert clipped.frame_skip == 3  # the paper's k for Space Invaders
    _, clipped_records = play(clipped, 3000)
    _, raw_records = play(raw, 3000)
    clipped_rewards = np.concatenate([record[1] for record in clipped_records])
    raw_rewards = np.concatenate([record[1] for record in raw_records])
    assert set(np.unique(clipped_rewards)) <= {-1.0, 0.0, 1.0}
    assert raw_rewards.max() >= 5  # same seed and actions: the same game, unclipped
    np.testing.assert_array_equal(clipped_rewards, np.sign(raw_rewards))

    games, score, life_losses, lives_per_game = [], 0.0, 0, []
    for (_, _, done, infos), (_, raw_reward, _, _) in zip(clipped_records, raw_records, strict=True):
        score += float(raw_reward[0])
        if done[0]:
            assert "terminal_observation" in infos[0]
            assert infos[0]["terminal_observation"].shape == (4, 84, 84)
            if "episode" in infos[0]:
                games.append((infos[0]["episode"], score))
                lives_per_game.append(life_losses)
                score, life_losses = 0.0, 0
            else:
                life_losses += 1
    assert games, "no game over in 3000 random steps"
    for episode, expected_score in games:
        assert set(episode) == {"r", "l", "t"}
        assert episode["r"] == pytest.approx(expected_score)
        assert episode["l"] > 0
    # Space Invaders has 3 lives: two life-loss dones before each game over
    assert lives_per_game[0] == 2


@pytest.mark.slow
def test_episode_info_only_at_game_over_like_the_paper_pipeline():
    """Both backends: done at each life loss, info["episode"] (score of the whole game) only when the game ends."""
    for env in (AleVecEnv("BreakoutNoFrameskip-v4", seed=1), make_paper_atari_env("BreakoutNoFrameskip-v4", seed=1)):
        _, records = play(env, 1200)
        done_steps = [infos[0] for _, _, dones, infos in records if dones[0]]
        game_overs = [info for info in done_steps if "episode" in info]
        assert game_overs, "no game over in 1200 random steps"
        assert len(done_steps) >= 5 * len(game_overs)  # Breakout: 5 lives per game
        assert all(info["episode"]["r"] >= 0 for info in game_overs)
        env.close()


def test_life_loss_termination_can_be_switched_off():
    env = AleVecEnv("BreakoutNoFrameskip-v4", seed=1, terminal_on_life_loss=False)
    _, records = play(env, 1200)
    dones = [infos[0] for _, _, done, infos in records if done[0]]
    assert dones and all("episode" in info for info in dones)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="skips 4 frames by itself"):
        AleVecEnv("ALE/Pong-v5")
    with pytest.raises(ValueError, match="n_envs must be at least 1"):
        AleVecEnv("PongNoFrameskip-v4", n_envs=0)
    with pytest.raises(ValueError, match="Unknown environment id"):
        AleVecEnv("NoSuchGameNoFrameskip-v4")
