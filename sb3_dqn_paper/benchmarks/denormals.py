"""
Time PaperDQN's update on a trained run's checkpoint with denormals kept and flushed to zero, side by side.

Usage::

    python -m sb3_dqn_paper.benchmarks.denormals CHECKPOINT --calls 200 --rounds 4

``CHECKPOINT`` is a training checkpoint (``PaperCheckpointCallback``, the ``campaign`` command's ``rl_model_*_steps.zip``)
with its replay buffer: a fresh network has no denormals, a trained one's optimizer state does. The script counts the
denormal numbers (non-zero, below float32's smallest normal 1.2e-38) in the weights, the RMSProp running averages and
one minibatch's gradients, then times ``train(gradient_steps=1)`` with denormals kept (``flush_denormal = False``) and
flushed (the default), in alternating rounds; before each round the weights and the optimizer state are put back to
the checkpoint's, so both variants start every round from the same state. It prints wall and CPU milliseconds per
update and the ratio, with the load average, so a figure taken beside other processes can be read as such.
"""

import argparse
import copy
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import torch as th
from stable_baselines3.common.logger import configure

from sb3_dqn_paper.denormals import denormals_flushed, flush_denormals
from sb3_dqn_paper.precision import cpu_isa


def count_denormals(tensors: Sequence[th.Tensor]) -> tuple[int, int]:
    """
    :param tensors: Float tensors
    :return: The number of their denormal elements (non-zero, smaller in magnitude than the dtype's smallest
        normal number) and of all their elements
    """
    denormal = total = 0
    for tensor in tensors:
        tiny = th.finfo(tensor.dtype).tiny
        magnitude = tensor.detach().abs()
        denormal += int(((magnitude > 0) & (magnitude < tiny)).sum())
        total += tensor.numel()
    return denormal, total


def denormal_census(model: Any) -> dict[str, tuple[int, int]]:
    """
    :param model: A PaperDQN
    :return: Denormal and total element counts of the weights, of each RMSProp state entry and of the gradients of
        one minibatch (computed with denormals kept; the weights are not changed)
    """
    params = list(model.policy.parameters())
    census = {"weights": count_denormals(params)}
    states = model.policy.optimizer.state
    for key in sorted({key for state in states.values() for key, value in state.items() if th.is_tensor(value)}):
        census[f"optimizer {key}"] = count_denormals([state[key] for state in states.values() if key in state])
    data = model.replay_buffer.sample(model.batch_size, env=model._vec_normalize_env)
    q_values = model.q_net(data.observations)
    with th.no_grad():
        target = data.rewards + (1 - data.dones) * model.gamma * model.q_net(data.next_observations).max(1, keepdim=True)[0]
    loss = th.nn.functional.mse_loss(q_values.gather(1, data.actions.long()), target)
    model.policy.optimizer.zero_grad()
    loss.backward()
    census["gradients"] = count_denormals([p.grad for p in params if p.grad is not None])
    model.policy.optimizer.zero_grad()
    return census


def main(argv: Sequence[str] | None = None) -> None:
    """
    Command-line entry point.

    :param argv: Arguments (``None``: ``sys.argv[1:]``)
    """
    parser = argparse.ArgumentParser(prog="python -m sb3_dqn_paper.benchmarks.denormals", description=__doc__.split("\n")[1])
    parser.add_argument("checkpoint", help="a training checkpoint with its replay buffer")
    parser.add_argument("--calls", type=int, default=200, help="train(1) calls per variant (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.calls < args.rounds:
        parser.error("need --rounds >= 1 and --calls >= --rounds")

    from sb3_dqn_paper.checkpoint import load_checkpoint

    th.set_num_threads(1)
    if denormals_flushed():
        sys.exit("error: this process already flushes denormals, so they cannot be timed kept")
    model = load_checkpoint(args.checkpoint, env=None, device="cpu", restore_env_state=False, restore_rng_states=False)
    model.set_logger(configure(None, [""]))  # train() records to a logger; this one writes nothing
    if model.replay_buffer is None or model.replay_buffer.size() < model.batch_size:
        sys.exit(f"error: {args.checkpoint} holds no replay buffer to sample from; pass a training checkpoint")
    with flush_denormals(False):
        census = denormal_census(model)
    policy_state = copy.deepcopy(model.policy.state_dict())
    optimizer_state = copy.deepcopy(model.policy.optimizer.state_dict())

    print("== sb3_dqn_paper.benchmarks.denormals ==")
    print(f"torch {th.__version__}, cpu_isa {cpu_isa()}, cpu_count {os.cpu_count()}, 1 thread")
    print(f"checkpoint {args.checkpoint}: {model.num_timesteps:,} agent steps, {model.replay_buffer.size():,} transitions")
    for name, (denormal, total) in census.items():
        print(f"denormals in {name}: {denormal:,} of {total:,} ({100 * denormal / total:.1f} %)")
    print(f"load average at start {[round(x, 2) for x in os.getloadavg()]}")

    variants = {"denormals kept": False, "denormals flushed": True}
    wall = dict.fromkeys(variants, 0.0)
    cpu = dict.fromkeys(variants, 0.0)
    per_round = args.calls // args.rounds
    for round_ in range(args.rounds + 1):  # round 0 warms up (oneDNN builds its kernels on first use)
        names = list(variants) if round_ % 2 == 0 else list(variants)[::-1]
        for name in names:
            model.policy.load_state_dict(policy_state)
            # a copy: the optimizer takes the state's tensors as they are and updates them in place
            model.policy.optimizer.load_state_dict(copy.deepcopy(optimizer_state))
            with flush_denormals(variants[name]):
                start, start_cpu = time.perf_counter(), time.process_time()
                model.train(gradient_steps=per_round if round_ else 5, batch_size=model.batch_size)
                if round_:
                    wall[name] += time.perf_counter() - start
                    cpu[name] += time.process_time() - start_cpu
    print(f"load average at end {[round(x, 2) for x in os.getloadavg()]}")
    calls = per_round * args.rounds
    print(f"{calls} train(1) calls per variant, {args.rounds} alternating rounds, each from the checkpoint's state")
    print(f"{'variant':<20} {'wall ms':>8} {'CPU ms':>8} {'vs kept (CPU)':>14}")
    for name in variants:
        ratio = cpu["denormals kept"] / cpu[name]
        print(f"{name:<20} {1e3 * wall[name] / calls:8.2f} {1e3 * cpu[name] / calls:8.2f} {ratio:13.2f}x")


if __name__ == "__main__":
    main()
