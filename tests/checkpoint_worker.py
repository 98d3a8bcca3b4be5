"""
Training runs for the checkpoint tests, each in its own process: ``python tests/checkpoint_worker.py MODE ...``.

Modes:

- ``run``: train each env of ``--envs`` from scratch with a :class:`PaperCheckpointCallback`, then dump the final
  state (weights, optimizer state, replay buffer, counters) to ``OUT/ENV/final.pkl``;
- ``resume``: load ``--checkpoint`` (a file or a folder; ``{out}``, ``{env}`` and ``{save_freq}`` are
  filled in) into a new env,
  continue to the run's original step target and dump the final state to ``OUT/ENV/resumed.pkl``;
- ``run-until-signal``: like ``run``, but after ``--marker-step`` agent steps write ``OUT/ENV/marker`` and slow
  down so that the test can signal the process while ``learn()`` is still running.

The envs are small so that every run takes seconds on one CPU thread: CartPole (``MlpPolicy``), a 36x36 image env
with a 4-frame stack (``CnnPolicy``, the paper's network) and Pong (the paper's Atari pipeline).
"""

import argparse
import os
import pathlib
import pickle
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecFrameStack

from sb3_dqn_paper.atari import make_paper_atari_env
from sb3_dqn_paper.checkpoint import PaperCheckpointCallback, load_checkpoint, resume_learning
from sb3_dqn_paper.paper_dqn import PaperDQN


class TinyImageEnv(gym.Env):
    """
    A 36x36 grey image with a bright agent pixel, a target and random noise; actions move the agent.

    Every source of randomness is ``self.np_random``, so the env's state includes it.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    size = 36

    def __init__(self) -> None:
        self.observation_space = spaces.Box(0, 255, (self.size, self.size, 1), np.uint8)
        self.action_space = spaces.Discrete(3)
        self.agent = np.zeros(2, dtype=np.int64)
        self.target = np.zeros(2, dtype=np.int64)

    def _obs(self) -> np.ndarray:
        obs = self.np_random.integers(0, 30, (self.size, self.size, 1), dtype=np.uint8)
        obs[self.target[0], self.target[1]] = 128
        obs[self.agent[0], self.agent[1]] = 255
        return obs

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.agent = self.np_random.integers(0, self.size, 2)
        self.target = self.np_random.integers(0, self.size, 2)
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        moves = np.array([[0, 1], [1, 0], [-1, -1]])
        self.agent = np.clip(self.agent + moves[int(action)] * self.np_random.integers(1, 4), 0, self.size - 1)
        distance = np.abs(self.agent - self.target).sum()
        return self._obs(), float(-distance / self.size), bool(distance <= 2), False, {}


#: Agent steps of each test run and the checkpoint interval (Pong is the slowest, so its run is shortest).
RUNS = {"cartpole": (400, 200), "cartpole2": (400, 200), "image": (400, 200), "image-zstd": (400, 200), "pong": (160, 80)}


def make_env(name: str, seed: int) -> VecEnv:
    """
    The training env of a test run.

    :param name: ``cartpole``, ``cartpole2`` (two envs), ``image`` (two envs, 4-frame stack), ``image-zstd`` (the
        same, its model's replay buffer compressing frames) or ``pong``
    :param seed: Env seed
    :return: The ``VecEnv``
    """
    if name == "cartpole":
        return make_vec_env("CartPole-v1", n_envs=1, seed=seed)
    if name == "cartpole2":
        return make_vec_env("CartPole-v1", n_envs=2, seed=seed)
    if name in ("image", "image-zstd"):
        vec_env = make_vec_env(
            TinyImageEnv, n_envs=2, seed=seed, wrapper_class=gym.wrappers.TimeLimit, wrapper_kwargs=dict(max_episode_steps=40)
        )
        return VecFrameStack(vec_env, n_stack=4)
    if name == "pong":
        return make_paper_atari_env("PongNoFrameskip-v4", n_envs=1, seed=seed)
    raise ValueError(f"unknown env {name!r}")


def make_model(name: str, env: VecEnv) -> PaperDQN:
    """
    A PaperDQN small enough for seconds-long runs, with a learning-rate schedule (so that a resume must get the
    learning-rate progress right) and a target network for the image env (so the target counter matters).

    :param name: The env name given to :func:`make_env`
    :param env: The env
    :return: The model
    """
    common: dict[str, Any] = dict(learning_starts=50, buffer_size=400, batch_size=16, exploration_steps=150, seed=1)
    if name.startswith("cartpole"):
        return PaperDQN(
            "MlpPolicy", env, learning_rate=lambda progress: 1e-3 * progress, policy_kwargs=dict(net_arch=[32]), **common
        )
    return PaperDQN(
        "CnnPolicy",
        env,
        learning_rate=lambda progress: 2.5e-4 * progress,
        target_update_interval=None if name == "pong" else 30,
        replay_buffer_kwargs=dict(compression="zstd") if name == "image-zstd" else None,
        **common,
    )


def dump_state(model: PaperDQN, path: pathlib.Path) -> None:
    """
    Pickle what an exact resume must reproduce: weights, optimizer state, replay buffer contents, counters.

    :param model: The model at the end of a run
    :param path: Output file
    """
    buffer = model.replay_buffer
    state = {
        "weights": {name: tensor.detach().cpu() for name, tensor in model.policy.state_dict().items()},
        "optimizer": model.policy.optimizer.state_dict(),
        "buffer": {name: value for name, value in vars(buffer).items() if isinstance(value, (np.ndarray, int, bool))},
        "counters": {
            "num_timesteps": model.num_timesteps,
            "n_updates": model._n_updates,
            "episodes": model._episode_num,
            "exploration_rate": model.exploration_rate,
            "n_calls": model._n_calls,
        },
        "last_obs": model._last_obs,
    }
    with open(path, "wb") as file:
        pickle.dump(state, file)


class SlowDownAfter(BaseCallback):
    """
    Write a marker file once ``step`` agent steps are done, then sleep a little at every step so that a signal
    sent after the marker lands while ``learn()`` still runs (sleeping changes nothing in the computation).

    :param step: Agent steps before the marker
    :param marker: Marker file (a string too: the rl-zoo3 tests give it in a hyperparameter file)
    """

    def __init__(self, step: int, marker: pathlib.Path | str) -> None:
        super().__init__()
        self.step, self.marker = step, pathlib.Path(marker)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.step:
            if not self.marker.exists():
                self.marker.write_text(str(self.num_timesteps))
            time.sleep(0.02)
        return True


def run(env_name: str, out: pathlib.Path, marker_step: int | None = None) -> None:
    """
    Train from scratch for the env's step count with a checkpoint callback; dump the final state unless stopped.

    :param env_name: Env name (see :data:`RUNS`)
    :param out: Output folder: ``checkpoints/``, ``final.pkl``, and ``marker`` with ``marker_step``
    :param marker_step: Write the marker after this many agent steps and slow down (``run-until-signal``)
    """
    steps, save_freq = RUNS[env_name]
    model = make_model(env_name, make_env(env_name, seed=7))
    checkpoints = PaperCheckpointCallback(save_freq, out / "checkpoints", keep_last=3)
    callbacks: list[BaseCallback] = [checkpoints]
    if marker_step is not None:
        callbacks.append(SlowDownAfter(marker_step, out / "marker"))
    model.learn(steps, callback=callbacks)
    if checkpoints.interrupted_by is not None:
        print(f"interrupted by {checkpoints.interrupted_by.name}; checkpoint {checkpoints.last_checkpoint}", flush=True)
        return
    dump_state(model, out / "final.pkl")


def resume(env_name: str, checkpoint: pathlib.Path, out: pathlib.Path) -> None:
    """
    Load a checkpoint (file or folder) into a freshly built env, finish the run and dump the final state.

    :param env_name: Env name (see :data:`RUNS`)
    :param checkpoint: Checkpoint file, or folder of checkpoints (the newest is used)
    :param out: Output folder for ``resumed.pkl``
    """
    model = load_checkpoint(checkpoint, env=make_env(env_name, seed=12345))
    print(f"{env_name}: resuming at step {model.num_timesteps}", flush=True)
    resume_learning(model)
    dump_state(model, out / "resumed.pkl")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["run", "resume", "run-until-signal"])
    parser.add_argument("--envs", default="cartpole", help="comma-separated env names")
    parser.add_argument("--out", type=pathlib.Path, required=True, help="output folder; one sub-folder per env")
    parser.add_argument("--checkpoint", default="{out}/{env}/checkpoints", help="checkpoint to resume from")
    parser.add_argument("--marker-step", type=int, default=100)
    args = parser.parse_args()
    th.set_num_threads(1)
    for env_name in args.envs.split(","):
        out = args.out / env_name
        out.mkdir(parents=True, exist_ok=True)
        if args.mode == "resume":
            checkpoint = args.checkpoint.format(out=args.out, env=env_name, save_freq=RUNS[env_name][1])
            resume(env_name, pathlib.Path(checkpoint), out)
        else:
            run(env_name, out, args.marker_step if args.mode == "run-until-signal" else None)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
