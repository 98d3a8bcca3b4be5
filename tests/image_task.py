"""
A small image task that the paper's network learns in about a thousand updates: which side is the bright patch on?

Each observation is a stack of 4 identical 44x44 uint8 frames (channel-first, like the Atari pipeline's output) with
a bright 8x8 patch in the left or the right half at a random place; action 0 ("left") or 1 ("right") earns 1 when it
names the patch's side, 0 otherwise. Episodes last 20 steps; each observation is drawn anew, so the optimal Q-values
differ by exactly 1 between the two actions.
"""

import gymnasium as gym
import numpy as np
from gymnasium import spaces

SIZE = 44
PATCH = 8


class BrightSideEnv(gym.Env):
    """Image contextual bandit: say on which side the bright patch is."""

    def __init__(self, episode_length: int = 20) -> None:
        self.observation_space = spaces.Box(0, 255, (4, SIZE, SIZE), np.uint8)
        self.action_space = spaces.Discrete(2)
        self.episode_length = episode_length
        self._t = 0
        self._side = 0

    def _observation(self) -> np.ndarray:
        self._side = int(self.np_random.integers(2))
        frame = self.np_random.integers(0, 40, (SIZE, SIZE), dtype=np.uint8)
        row = int(self.np_random.integers(0, SIZE - PATCH))
        col = int(self.np_random.integers(0, SIZE // 2 - PATCH)) + self._side * SIZE // 2
        frame[row : row + PATCH, col : col + PATCH] = 255
        return np.repeat(frame[None], 4, axis=0)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._t = 0
        return self._observation(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(int(action) == self._side)
        self._t += 1
        return self._observation(), reward, False, self._t >= self.episode_length, {}


def greedy_accuracy(model, n: int = 300, seed: int = 123) -> float:
    """Fraction of fresh observations on which the greedy action names the patch's side."""
    env = BrightSideEnv()
    env.reset(seed=seed)
    correct = 0
    for _ in range(n):
        obs = env._observation()
        action, _ = model.predict(obs, deterministic=True)
        correct += int(action) == env._side
    return correct / n
