"""
A fast Atari env backend: ale-py's C++ ``AtariVectorEnv`` behind SB3's ``VecEnv`` interface, with the preprocessing of
:func:`~sb3_dqn_paper.atari.make_paper_atari_env`.

``AtariVectorEnv`` (ale-py >= 0.11) steps all games in C++ threads and does the frame skip with a max over the last two
frames, the grayscale 84x84 resize, the no-op starts, the fire reset and the frame stack itself, so a step costs no
Python wrapper chain. What this module adds, and why it is not SB3's ``AtariWrapper``:

- SB3's ``VecEnv`` API (auto-reset with ``info["terminal_observation"]``, ``info["TimeLimit.truncated"]``,
  ``info["episode"]``), so PaperDQN and every SB3 algorithm can train on it.
- The end of an episode at each life loss (``terminal_on_life_loss``): ale-py's own ``episodic_life`` restarts the
  whole game at a life loss, which is not what ``AtariWrapper`` does, so it is off and this adapter signals ``done``
  on a life loss itself while the game goes on, as SB3's ``EpisodicLifeEnv`` does.
- Reward clipping to the sign (``clip_reward``), with the unclipped score of the whole game (all lives) in
  ``info["episode"]["r"]`` at game over, as SB3's ``Monitor`` below ``AtariWrapper`` reports it.

Known differences from ``make_paper_atari_env`` (same shapes, dtypes, reward clipping and episode info; not the same
pixels or the same steps after a life loss):

- Grayscale and resize are ale-py's C++ implementation, not OpenCV's ``cvtColor``/``resize(INTER_AREA)``, so pixel
  values can differ slightly.
- After a life loss SB3's wrappers take a no-op step and re-press FIRE, and ``VecFrameStack`` restarts the stack from
  zeros; here the game simply continues, with the last 4 frames as the next observation.
- Observations are channel-first ``(4, 84, 84)`` (what PaperDQN's network sees after SB3's ``VecTransposeImage`` on
  the other backend); ``info["episode"]["l"]`` counts emulator frames as SB3's ``Monitor`` does, to within one
  frame skip at the end of a game.
"""

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from sb3_dqn_paper.atari import PAPER_FRAME_STACK, check_atari_env_id, resolve_frame_skip
from sb3_dqn_paper.errors import InvalidArgumentError

#: The first ale-py release whose ``AtariVectorEnv`` has the same-step auto-reset this adapter relies on.
MIN_ALE_PY = (0, 12)


def ale_vector_env_available() -> bool:
    """
    Whether the installed ale-py has an ``AtariVectorEnv`` this adapter can use (ale-py >= 0.12).

    :return: True if :class:`AleVecEnv` can be built
    """
    import ale_py

    try:
        version = tuple(int(part) for part in ale_py.__version__.split(".")[:2])
    except ValueError:
        return False
    return version >= MIN_ALE_PY


class AleVecEnv(VecEnv):
    """
    ale-py's ``AtariVectorEnv`` as an SB3 ``VecEnv`` with the paper's preprocessing (see the module docstring).

    :param env_id: A Gymnasium Atari id without built-in frame skip, e.g. ``"BreakoutNoFrameskip-v4"``
    :param n_envs: Number of games stepped together
    :param seed: Seed of the first game (the others get ``seed + rank``); ``None`` for a random seed
    :param frame_skip: Frame skip ``k``; ``None`` picks the paper's (3 for Space Invaders, else 4)
    :param frame_stack: Frames per observation (4 in the paper)
    :param clip_reward: Clip rewards to their sign (the paper); ``info["episode"]["r"]`` stays unclipped
    :param terminal_on_life_loss: End an episode at each life loss, the game going on (SB3's default)
    :param noop_max: Maximum number of no-ops at reset (0 disables)
    :param num_threads: C++ threads stepping the games (0: ale-py's choice)
    """

    def __init__(
        self,
        env_id: str,
        n_envs: int = 1,
        seed: int | None = None,
        frame_skip: int | None = None,
        frame_stack: int = PAPER_FRAME_STACK,
        clip_reward: bool = True,
        terminal_on_life_loss: bool = True,
        noop_max: int = 30,
        num_threads: int = 0,
    ) -> None:
        if not ale_vector_env_available():
            import ale_py

            raise ImportError(
                f"AleVecEnv needs ale-py >= 0.12 (AtariVectorEnv with same-step reset), found {ale_py.__version__}"
            )
        from ale_py.vector_env import AtariVectorEnv
        from gymnasium.vector import AutoresetMode

        if n_envs < 1:
            raise InvalidArgumentError(f"n_envs must be at least 1, got {n_envs}")
        if frame_stack < 1:
            raise InvalidArgumentError(f"frame_stack must be at least 1, got {frame_stack}")
        spec = check_atari_env_id(env_id)
        game = spec.kwargs.get("game")
        if not isinstance(game, str):
            raise InvalidArgumentError(f"{env_id} is not an ale-py game (its spec names no 'game')")
        frame_skip = resolve_frame_skip(env_id, frame_skip)
        # The id's time limit in emulator frames (ale-py registers 108,000 for the v4 and v5 ids)
        max_frames = spec.kwargs.get("max_num_frames_per_episode") or spec.max_episode_steps or 108_000

        self.env_id = env_id
        self.frame_skip = frame_skip
        self.clip_reward = clip_reward
        self.terminal_on_life_loss = terminal_on_life_loss
        self.ale_env = AtariVectorEnv(
            game,
            n_envs,
            num_threads=num_threads,
            max_num_frames_per_episode=int(max_frames),
            repeat_action_probability=0.0,
            autoreset_mode=AutoresetMode.SAME_STEP,
            img_height=84,
            img_width=84,
            grayscale=True,
            stack_num=frame_stack,
            frameskip=frame_skip,
            maxpool=True,
            noop_max=noop_max,
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            use_fire_reset=True,
        )
        self.render_mode = None  # read by VecEnv.__init__; the games are not rendered
        super().__init__(n_envs, self.ale_env.single_observation_space, self.ale_env.single_action_space)
        self._actions = np.zeros(n_envs, dtype=np.int64)
        self._scores = np.zeros(n_envs, dtype=np.float64)
        self._frames = np.zeros(n_envs, dtype=np.int64)
        self._lives = np.zeros(n_envs, dtype=np.int64)
        self._starts = np.zeros(n_envs, dtype=np.float64)
        if seed is not None:
            self.seed(seed)

    def _start_games(self, indices: np.ndarray, info: dict[str, np.ndarray]) -> None:
        self._scores[indices] = 0.0
        self._frames[indices] = info["episode_frame_number"][indices]
        self._lives[indices] = info["lives"][indices]
        self._starts[indices] = time.time()

    def reset(self) -> VecEnvObs:
        seeds = self._seeds
        seed = None if seeds[0] is None else np.asarray(seeds, dtype=np.int64)
        observations, info = self.ale_env.reset(seed=seed)
        self._start_games(np.arange(self.num_envs), info)
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        self._actions[:] = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, terminated, truncated, info = self.ale_env.step(self._actions)
        rewards = rewards.astype(np.float32)
        self._scores += rewards
        game_over = terminated | truncated
        # Under SAME_STEP autoreset a finished game's info already describes the next game
        self._frames[~game_over] = info["episode_frame_number"][~game_over]
        self._frames[game_over] += self.frame_skip
        lives = info["lives"].astype(np.int64)
        life_lost = ~game_over & (lives < self._lives)
        self._lives[~game_over] = lives[~game_over]
        dones = game_over | (life_lost if self.terminal_on_life_loss else False)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for index in np.flatnonzero(dones):
            episode_info = infos[index]
            episode_info["TimeLimit.truncated"] = bool(truncated[index] and not terminated[index])
            if game_over[index]:
                episode_info["terminal_observation"] = info["final_obs"][index]
                episode_info["episode"] = {
                    "r": float(self._scores[index]),
                    "l": int(self._frames[index]),
                    "t": round(time.time() - self._starts[index], 6),
                }
            else:
                # Life lost: the episode ends for the learner while the game goes on from this observation
                episode_info["terminal_observation"] = observations[index].copy()
        if game_over.any():
            self._start_games(np.flatnonzero(game_over), info)
        if self.clip_reward:
            rewards = np.sign(rewards)
        return observations, rewards, dones, infos

    def close(self) -> None:
        self.ale_env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"AleVecEnv games have no per-env attributes to set (asked for {attr_name!r})")

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        raise AttributeError(f"AleVecEnv games have no per-env methods (asked for {method_name!r})")

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]


def make_ale_vector_env(env_id: str, n_envs: int = 1, seed: int | None = None, **kwargs: Any) -> AleVecEnv:
    """
    The fast backend with :func:`~sb3_dqn_paper.atari.make_paper_atari_env`'s defaults.

    :param env_id: A Gymnasium Atari id without built-in frame skip
    :param n_envs: Number of games stepped together
    :param seed: Seed of the first game
    :param kwargs: Further :class:`AleVecEnv` arguments
    :return: The ``VecEnv`` (channel-first observations)
    """
    return AleVecEnv(env_id, n_envs=n_envs, seed=seed, **kwargs)


__all__ = ["AleVecEnv", "ale_vector_env_available", "make_ale_vector_env"]
