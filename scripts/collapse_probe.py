"""
Short runs that locate where the last hidden layer of PaperDQN's network stops taking part ("dead" ReLU units).

Each variant trains from the same seed on one game for ``--steps`` agent steps (replay memory ``--buffer``, the
first ``--learning-starts`` steps random) and, every ``--every`` agent steps, writes one JSON line: agent steps,
updates, inactive units of the 256-unit layer and average max Q on a fixed set of random-play states
(:mod:`sb3_dqn_paper.tools.held_out_q`), the share of each weight's entries whose RMSProp step the constant dominates
(:func:`sb3_dqn_paper.rmsprop.eps_share`), and the mean training return of the last 20 games.

Variants (``--variant``):

- ``paper``: PaperDQN's defaults (squared error, no target network, DeepMind's RMSProp constant for a mean loss);
- ``huber``: the Huber loss with DeepMind's constant rescaled for it (``0.01 / batch_size ** 2``): exactly the
  update of DeepMind's released code (error clipping at 1), still without a target network;
- ``target``: the defaults plus a target network updated every 10,000 agent steps (the Nature paper's period);
- ``small_eps``: the defaults with the RMSProp constant of deep_q_rl's 2013-style settings (``run_nips.py``: 1e-6 on
  the mean of half squared errors), 4e-6 on PaperDQN's mean squared error, instead of DeepMind's 3.9e-5: steps
  scaled by the gradient's running deviation (RMSProp) rather than proportional to the gradient (plain SGD).

Usage: ``python scripts/collapse_probe.py --env SpaceInvadersNoFrameskip-v4 --variant paper --out probe.jsonl``
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.rmsprop import DEEPMIND_DECAY, DEEPMIND_EPS, CenteredRMSprop, eps_share
from sb3_dqn_paper.tools.held_out_q import collect_held_out_states, held_out_measures

VARIANTS = ("paper", "huber", "target", "small_eps")


class ProbeCallback(BaseCallback):
    """Writes the probe's measurements every ``every`` agent steps."""

    def __init__(self, states: np.ndarray, every: int, out: str, variant: str) -> None:
        super().__init__()
        self.states, self.every, self.out, self.variant = states, every, out, variant

    def measure(self) -> None:
        model = self.model
        value, (inactive, units) = held_out_measures(model, self.states)
        returns = [info["r"] for info in model.ep_info_buffer][-20:]
        shares = eps_share(model.policy.optimizer, model.q_net.named_parameters())
        row = dict(
            variant=self.variant,
            agent_steps=int(model.num_timesteps),
            updates=int(model._n_updates),
            inactive_units=inactive,
            units=units,
            average_max_q=round(value, 5),
            eps_dominated={
                name: round(share["eps_dominated"], 4) for name, share in shares.items() if name.endswith("weight")
            },
            training_return_last_20=round(float(np.mean(returns)), 2) if returns else None,
        )
        with open(self.out, "a") as file:
            file.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    def _on_training_start(self) -> None:
        self.measure()

    def _on_step(self) -> bool:
        if self.model.num_timesteps % self.every == 0:
            self.measure()
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="SpaceInvadersNoFrameskip-v4")
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--learning-starts", type=int, default=10_000)
    parser.add_argument("--buffer", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--states", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    th.set_num_threads(1)
    states = collect_held_out_states(args.env, args.states, seed=0)
    kwargs = {}
    if args.variant == "huber":
        kwargs = dict(
            loss="huber",
            policy_kwargs=dict(
                optimizer_class=CenteredRMSprop, optimizer_kwargs=dict(decay=DEEPMIND_DECAY, eps=DEEPMIND_EPS / 32**2)
            ),
        )
    elif args.variant == "small_eps":
        kwargs = dict(
            policy_kwargs=dict(optimizer_class=CenteredRMSprop, optimizer_kwargs=dict(decay=DEEPMIND_DECAY, eps=4e-6))
        )
    elif args.variant == "target":
        kwargs = dict(target_update_interval=10_000)
    with tempfile.TemporaryDirectory() as monitor_dir:
        env = make_paper_atari_env(args.env, seed=args.seed, monitor_dir=monitor_dir)
        model = PaperDQN(
            "CnnPolicy", env, buffer_size=args.buffer, learning_starts=args.learning_starts, seed=args.seed, **kwargs
        )
        model.learn(args.steps, callback=ProbeCallback(states, args.every, args.out, args.variant))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
