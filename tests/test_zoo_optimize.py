"""Tuning on one machine: ``-optimize`` with an SQLite file and with Optuna's JournalStorage file, the pandas report at
the end, ``--trial-id`` through the converter, and divergent trials pruned instead of ending the study."""

import argparse
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState
from zoo_cli import require_installed_hook, run_python

pytestmark = [pytest.mark.zoo, pytest.mark.slow]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def test_sqlite_study_report_and_trial_id(tmp_path: Path) -> None:
    require_installed_hook()
    # the command of docs/zoo.md, with a small budget
    run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-optimize", "--n-trials", "3",
         "--n-jobs", "1", "--sampler", "tpe", "--pruner", "median", "--storage", "sqlite:///paper_dqn.db",
         "--study-name", "cartpole", "-n", "600", "--n-evaluations", "1", "--eval-episodes", "2", "-f", "logs"],
        cwd=tmp_path,
    )  # fmt: skip
    study = optuna.load_study(study_name="cartpole", storage=f"sqlite:///{tmp_path / 'paper_dqn.db'}")
    assert len(study.trials) == 3
    assert all(trial.state in FINISHED for trial in study.trials)
    # the report written at the end needs pandas (study.trials_dataframe)
    (report,) = (tmp_path / "logs" / "paper_dqn").glob("report_CartPole-v1_3-trials-600-tpe-median_*.csv")
    table = pd.read_csv(report)
    assert len(table) == 3
    assert {"params_learning_rate", "params_target_network", "user_attrs_gamma", "user_attrs_worker"} <= set(table.columns)
    assert table["params_learning_rate"].tolist() == pytest.approx([trial.params["learning_rate"] for trial in study.trials])

    # train with the hyperparameters of trial 1 (rl-zoo3 converts the stored parameters with our converter)
    trial = study.trials[1]
    run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "--storage", "sqlite:///paper_dqn.db",
         "--study-name", "cartpole", "--trial-id", "1", "-n", "200", "--eval-freq", "-1", "-f", "trained"],
        cwd=tmp_path,
    )  # fmt: skip
    config_path = tmp_path / "trained" / "paper_dqn" / "CartPole-v1_1" / "CartPole-v1" / "config.yml"
    config = dict(yaml.load(config_path.read_text(), Loader=yaml.UnsafeLoader))
    assert config["learning_rate"] == pytest.approx(trial.params["learning_rate"])
    assert config["batch_size"] == 2 ** trial.params["batch_size_pow"]
    assert config["exploration_steps"] == trial.params["exploration_steps"]


def test_journal_file_storage(tmp_path: Path) -> None:
    require_installed_hook()
    run_python(
        ["-m", "rl_zoo3.train", "--algo", "paper_dqn", "--env", "CartPole-v1", "-optimize", "--n-trials", "2",
         "--sampler", "random", "--pruner", "none", "--storage", "studies/paper_dqn.log", "--study-name", "journal",
         "-n", "300", "--n-evaluations", "1", "--eval-episodes", "1", "--no-optim-plots", "-f", "logs"],
        cwd=tmp_path,
    )  # fmt: skip
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "studies/paper_dqn.log"))
    )
    study = optuna.load_study(study_name="journal", storage=storage)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]


def test_divergent_trial_is_pruned_not_fatal(tmp_path: Path) -> None:
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_dqn_paper.zoo.registration import register

    register()
    manager = ExperimentManager(
        argparse.Namespace(),
        "paper_dqn",
        "CartPole-v1",
        str(tmp_path / "logs"),
        n_timesteps=600,
        optimize_hyperparameters=True,
        n_evaluations=1,
        n_eval_episodes=1,
        device="cpu",
    )
    assert manager.setup_experiment() is None
    diverging = {
        # outside the sampled range: the first updates make the weights, then the loss, non-finite (an infinite
        # learning rate is refused by PaperDQN before training)
        "learning_rate": 1e30,
        "one_minus_rmsprop_decay": 0.05,
        "rmsprop_eps_summed": 0.01,
        "one_minus_gamma": 0.01,
        "learning_starts": 100,
        "exploration_steps": 1000,
        "exploration_final_eps": 0.1,
        "batch_size_pow": 5,
        "target_network": False,
    }
    with pytest.warns(UserWarning), pytest.raises(optuna.TrialPruned, match="the loss became"):
        manager.objective(optuna.trial.FixedTrial(diverging))
