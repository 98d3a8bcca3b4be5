"""
The paper-protocol evaluation of one campaign checkpoint, run by ``campaign run`` in a process of its own:
the checkpoint's weights are kept as a model file without the replay buffer (a few MB, so the checkpoint itself
can be deleted), then evaluated with :func:`~sb3_dqn_paper.tools.evaluate.evaluate_paper_protocol` (epsilon 0.05,
whole games) and on the game's held-out states (:mod:`sb3_dqn_paper.tools.held_out_q`: the paper's average action
value, Figure 2, and the inactive units of the last hidden layer), and the result is written as JSON beside the other
evaluations.

``python -m sb3_dqn_paper.tools.campaign.evaluation CHECKPOINT --env ID --model-out MODEL --out JSON [--steps N]``
"""

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from sb3_dqn_paper.errors import PaperDQNError


def evaluate_checkpoint(
    checkpoint: str, env_id: str, model_out: str, out: str, n_steps: int = 10_000, device: str = "cpu"
) -> dict[str, Any]:
    """
    Keep the weights of ``checkpoint`` as ``model_out`` and write its paper-protocol evaluation to ``out``.

    The model file is written before the evaluation, so an evaluation file always has its model beside the run. The
    held-out measures are under ``"held_out"``: ``states`` random-play states (seed 0), ``average_max_q``, and
    ``inactive_units`` of ``units`` (``None`` for a network without convolutions).

    :param checkpoint: A checkpoint of a campaign run (``rl_model_<steps>_steps.zip``)
    :param env_id: Gymnasium id of the run
    :param model_out: The model file to write (``model_<steps>_steps.zip``, in the checkpoint's run folder)
    :param out: The evaluation JSON file to write (replaced if it exists)
    :param n_steps: Agent steps of the evaluation
    :param device: Torch device
    :return: The evaluation, as written
    """
    from sb3_dqn_paper.tools.common import load_model, write_json
    from sb3_dqn_paper.tools.evaluate import evaluate_paper_protocol
    from sb3_dqn_paper.tools.held_out_q import DEFAULT_STATES, collect_held_out_states, held_out_measures

    model = load_model(checkpoint, device=device)
    model.save(model_out)
    result = evaluate_paper_protocol(model, env_id, n_steps=n_steps, seed=0, device=device)
    data = result.to_dict()
    average_max_q, units = held_out_measures(model, collect_held_out_states(env_id, DEFAULT_STATES, seed=0))
    data["held_out"] = {
        "states": DEFAULT_STATES,
        "seed": 0,
        "average_max_q": average_max_q,
        "inactive_units": None if units is None else units[0],
        "units": None if units is None else units[1],
    }
    data["model_path"] = os.path.relpath(model_out, os.path.dirname(os.path.abspath(out)))
    data["checkpoint"] = os.path.basename(checkpoint)
    write_json(data, out, overwrite=True)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point.

    :param argv: Arguments (default: ``sys.argv[1:]``)
    :return: Exit status: 0 on success, 2 on an error of this package
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_dqn_paper.tools.campaign.evaluation",
        description="Keep a campaign checkpoint's weights and evaluate them with the paper's protocol.",
    )
    parser.add_argument("checkpoint")
    parser.add_argument("--env", required=True)
    parser.add_argument("--model-out", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        data = evaluate_checkpoint(args.checkpoint, args.env, args.model_out, args.out, args.steps, args.device)
    except (PaperDQNError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = data["unclipped"]
    score = "no game completed" if summary is None else f"average {summary['mean']:.2f} over {data['n_episodes']} games"
    print(f"{args.checkpoint}: {score} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
