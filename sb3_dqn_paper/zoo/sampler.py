"""
Optuna search space of PaperDQN for rl-zoo3's ``-optimize``: what the 2013 paper left open.

The paper fixes the network, the minibatch size of 32, epsilon 1.0 -> 0.1 over the first million frames,
the replay size and one update per step; it gives no RMSProp constants, no discount and no replay start
size, and has no target network. The sampler searches:

============================  =====================================  =========================================
trial parameter               range (scale)                          PaperDQN argument
============================  =====================================  =========================================
``learning_rate``             1e-5 .. 3e-3 (log)                     ``learning_rate``
``one_minus_rmsprop_decay``   1e-3 .. 0.1 (log)                      ``policy_kwargs.optimizer_kwargs.decay``
``rmsprop_eps_summed``        1e-6 .. 0.1 (log)                      ``policy_kwargs.optimizer_kwargs.eps``
``one_minus_gamma``           1e-3 .. 0.1 (log)                      ``gamma``
``learning_starts``           100 .. 50,000 agent steps (log)        ``learning_starts``
``exploration_steps``         1,000 .. 1,000,000 agent steps (log)   ``exploration_steps``
``exploration_final_eps``     0.01 .. 0.2 (log)                      ``exploration_final_eps``
``batch_size_pow``            4 .. 8 (batch 16 .. 256)               ``batch_size``
``target_network``            False / True                           ``target_update_interval`` None or ...
``target_update_interval``    100 .. 30,000 agent steps (log)        ... this, only when ``target_network``
============================  =====================================  =========================================

``rmsprop_eps_summed`` is on the scale of DeepMind's code, whose 0.01 is sized for a gradient summed over
the minibatch; :func:`~sb3_dqn_paper.rmsprop.deepmind_eps_for_mean_loss` converts it to PaperDQN's mean loss
for the sampled batch size, so the same value means the same thing at every batch size. The ranges hold the
published candidates (lr 2e-4 / 2.5e-4, decay 0.95 / 0.99, gamma 0.95 / 0.99, replay start 100 / 50,000).

Counts are absolute agent steps, like PaperDQN's arguments (rl-zoo3's converter has no access to the training
budget). For a short tuning budget, values near the top of the ranges leave little time to learn; the pruner
stops those trials early.

While tuning, rl-zoo3 replaces the ``policy_kwargs`` of the yml entry with the sampled ones (as it does for
every algorithm), which is why the shipped entries leave ``policy_kwargs`` at PaperDQN's defaults.
"""

import os
import socket
from typing import Any

import optuna

from sb3_dqn_paper.rmsprop import deepmind_eps_for_mean_loss


def sample_paper_dqn_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Sample PaperDQN hyperparameters (rl-zoo3's ``HYPERPARAMS_SAMPLER`` signature).

    :param trial: The Optuna trial
    :param n_actions: Number of actions of the env (unused: one Q-value per action whatever their number)
    :param n_envs: Number of envs (unused: PaperDQN counts agent steps over all envs)
    :param additional_args: rl-zoo3's extra information (HER settings; PaperDQN does not use HER)
    :return: Keyword arguments for :class:`~sb3_dqn_paper.PaperDQN`
    """
    params: dict[str, Any] = {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "one_minus_rmsprop_decay": trial.suggest_float("one_minus_rmsprop_decay", 1e-3, 0.1, log=True),
        "rmsprop_eps_summed": trial.suggest_float("rmsprop_eps_summed", 1e-6, 0.1, log=True),
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-3, 0.1, log=True),
        "learning_starts": trial.suggest_int("learning_starts", 100, 50_000, log=True),
        "exploration_steps": trial.suggest_int("exploration_steps", 1_000, 1_000_000, log=True),
        "exploration_final_eps": trial.suggest_float("exploration_final_eps", 0.01, 0.2, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 4, 8),
        "target_network": trial.suggest_categorical("target_network", [False, True]),
    }
    if params["target_network"]:
        params["target_update_interval"] = trial.suggest_int("target_update_interval", 100, 30_000, log=True)

    hyperparams = convert_paper_dqn_params(params)
    # Show the values PaperDQN receives next to the sampled ones in the study
    optimizer_kwargs = hyperparams["policy_kwargs"]["optimizer_kwargs"]
    trial.set_user_attr("gamma", hyperparams["gamma"])
    trial.set_user_attr("batch_size", hyperparams["batch_size"])
    trial.set_user_attr("rmsprop_decay", optimizer_kwargs["decay"])
    trial.set_user_attr("rmsprop_eps", optimizer_kwargs["eps"])
    # Which machine and process ran the trial, for studies shared by several workers (RDB storage)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    return hyperparams


def convert_paper_dqn_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn a trial's parameters into PaperDQN keyword arguments (rl-zoo3's ``HYPERPARAMS_CONVERTER`` signature).

    rl-zoo3 calls this with ``study.trials[i].params`` for ``--trial-id``, so it must not need the trial itself.

    :param sampled_params: Parameters named as in :func:`sample_paper_dqn_params`
    :return: Keyword arguments for :class:`~sb3_dqn_paper.PaperDQN`
    :raises KeyError: naming a parameter the trial does not have (a study made by another sampler)
    """
    missing = [
        name
        for name in (
            "learning_rate",
            "one_minus_rmsprop_decay",
            "rmsprop_eps_summed",
            "one_minus_gamma",
            "learning_starts",
            "exploration_steps",
            "exploration_final_eps",
            "batch_size_pow",
            "target_network",
        )
        if name not in sampled_params
    ]
    if sampled_params.get("target_network") and "target_update_interval" not in sampled_params:
        missing.append("target_update_interval")
    if missing:
        raise KeyError(f"These trial parameters are missing for paper_dqn: {missing}; was the study made for paper_dqn?")

    batch_size = 2 ** int(sampled_params["batch_size_pow"])
    return {
        "learning_rate": float(sampled_params["learning_rate"]),
        "gamma": 1.0 - float(sampled_params["one_minus_gamma"]),
        "batch_size": batch_size,
        "learning_starts": int(sampled_params["learning_starts"]),
        "exploration_steps": int(sampled_params["exploration_steps"]),
        "exploration_final_eps": float(sampled_params["exploration_final_eps"]),
        "target_update_interval": int(sampled_params["target_update_interval"]) if sampled_params["target_network"] else None,
        "policy_kwargs": {
            "optimizer_kwargs": {
                "decay": 1.0 - float(sampled_params["one_minus_rmsprop_decay"]),
                "eps": deepmind_eps_for_mean_loss(batch_size, float(sampled_params["rmsprop_eps_summed"])),
            }
        },
    }
