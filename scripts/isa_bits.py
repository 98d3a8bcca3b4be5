"""
Does a seed's training depend on which CPU kernels PyTorch picks? Trains PaperDQN from one seed under several kernel
settings, one process each, and compares the weights bit for bit with those of the first setting.

PyTorch picks its kernels by the CPU's instruction set: ATen's own vectorised kernels (``ATEN_CPU_CAPABILITY``:
``default``, ``avx2``, ``avx512``; unset, the best the CPU has) and oneDNN's convolutions (``ONEDNN_MAX_CPU_ISA``:
``SSE41``, ``AVX``, ``AVX2``, ``AVX512_CORE``, ...). Different kernels may sum in a different order and round
differently; this script shows whether that changes the weights. A setting can only lower the instruction set below
what the CPU has, so on an AVX2 machine it compares AVX2 with older kernels, not with AVX-512 ones.

Each setting trains for ``--steps`` agent steps with a replay memory of ``--buffer`` transitions, updating after
``--learning-starts`` steps (one update per step, one thread), then writes its weights. The table gives each
setting's weight digest, the largest absolute difference from the first setting's weights and the share of entries
that differ. The first two settings are both the default, so the first row shows that a setting repeats itself.

Usage: ``python scripts/isa_bits.py --env QbertNoFrameskip-v4 --steps 2000``
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "default again": {},
    "ATEN_CPU_CAPABILITY=default": {"ATEN_CPU_CAPABILITY": "default"},
    "ONEDNN_MAX_CPU_ISA=AVX": {"ONEDNN_MAX_CPU_ISA": "AVX"},
    "MKL_ENABLE_INSTRUCTIONS=AVX": {"MKL_ENABLE_INSTRUCTIONS": "AVX"},
}


def train(env_id: str, steps: int, buffer: int, learning_starts: int, seed: int, out: str) -> None:
    """
    Train PaperDQN in this process and save its policy's weights.

    :param env_id: the Atari game
    :param steps: agent steps to train for
    :param buffer: replay memory size, in transitions
    :param learning_starts: agent steps before the first update
    :param seed: the seed of the run
    :param out: where to write the weights and the number of updates (``torch.save`` of a dict)
    """
    import torch as th

    from sb3_dqn_paper import PaperDQN, make_paper_atari_env

    th.set_num_threads(1)
    env = make_paper_atari_env(env_id, seed=seed)
    model = PaperDQN("CnnPolicy", env, buffer_size=buffer, learning_starts=learning_starts, seed=seed, device="cpu")
    model.learn(steps)
    th.save({"weights": model.policy.state_dict(), "updates": model._n_updates}, out)


def compare(reference: str, other: str) -> tuple[str, float, int, int, int]:
    """
    Compare two saved state dicts.

    :param reference: the first setting's weights
    :param other: another setting's weights
    :return: the other's digest (sha256 of all weights, 16 hex digits), the largest absolute difference, the number of
        entries that differ, the number of entries and the other's number of updates
    """
    import torch as th

    saved = th.load(other)
    ref, oth = th.load(reference)["weights"], saved["weights"]
    digest = hashlib.sha256(b"".join(oth[key].numpy().tobytes() for key in sorted(oth))).hexdigest()[:16]
    largest = max(float((ref[key] - oth[key]).abs().max()) for key in ref)
    differing = sum(int((ref[key] != oth[key]).sum()) for key in ref)
    return digest, largest, differing, sum(value.numel() for value in ref.values()), int(saved["updates"])


def main() -> None:
    """Run every setting in its own process (the variables must be set before torch loads), then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--env", default="QbertNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--buffer", type=int, default=20_000)
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", metavar="OUT", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.train:
        train(args.env, args.steps, args.buffer, args.learning_starts, args.seed, args.train)
        return
    if not 0 <= args.learning_starts < args.steps or args.buffer < 1:
        parser.error("need 0 <= --learning-starts < --steps and --buffer >= 1")
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for index, (name, variables) in enumerate(SETTINGS.items()):
            paths[name] = os.path.join(folder, f"{index}.pt")
            command = [sys.executable, __file__, "--train", paths[name]]
            command += ["--env", args.env, "--steps", str(args.steps), "--buffer", str(args.buffer)]
            command += ["--learning-starts", str(args.learning_starts), "--seed", str(args.seed)]
            subprocess.run(command, env={**os.environ, **variables}, check=True, stdout=subprocess.DEVNULL)
        print(f"{args.env}, seed {args.seed}, {args.steps:,} agent steps, one thread")
        print("| setting | updates | weights (sha256) | largest difference from the first | entries that differ |")
        print("|---|---:|---|---:|---:|")
        first = paths[next(iter(SETTINGS))]
        for name, path in paths.items():
            digest, largest, differing, entries, updates = compare(first, path)
            print(f"| {name} | {updates:,} | `{digest}` | {largest:.3g} | {differing:,} of {entries:,} |")


if __name__ == "__main__":
    main()
