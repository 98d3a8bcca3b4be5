"""The Optuna sampler of paper_dqn: valid PaperDQN arguments over many random trials, scales, and the converter."""

import math

import numpy as np
import optuna
import pytest

from sb3_dqn_paper import PaperDQN
from sb3_dqn_paper.rmsprop import CenteredRMSprop
from sb3_dqn_paper.zoo.sampler import convert_paper_dqn_params, sample_paper_dqn_params

pytestmark = pytest.mark.zoo

NO_HER = {"using_her_replay_buffer": False, "her_kwargs": {}}

#: (trial parameter, low, high, log scale) as the module docstring promises
SEARCH_SPACE = [
    ("learning_rate", 1e-5, 3e-3, True),
    ("one_minus_rmsprop_decay", 1e-3, 0.1, True),
    ("rmsprop_eps_summed", 1e-6, 0.1, True),
    ("one_minus_gamma", 1e-3, 0.1, True),
    ("learning_starts", 100, 50_000, True),
    ("exploration_steps", 1_000, 1_000_000, True),
    ("exploration_final_eps", 0.01, 0.2, True),
    ("batch_size_pow", 4, 8, False),
    ("target_update_interval", 100, 30_000, True),
]


@pytest.fixture(scope="module")
def random_study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(300):
        trial = study.ask()
        sample_paper_dqn_params(trial, n_actions=2, n_envs=1, additional_args=NO_HER)
        study.tell(trial, 0.0)
    return study


def test_search_space_ranges_and_scales(random_study: optuna.Study) -> None:
    distributions = {}
    for trial in random_study.trials:
        distributions.update(trial.distributions)
    for name, low, high, log in SEARCH_SPACE:
        distribution = distributions[name]
        assert (distribution.low, distribution.high, distribution.log) == (low, high, log), name
    assert distributions["target_network"].choices == (False, True)


def test_sampled_values_cover_the_log_ranges(random_study: optuna.Study) -> None:
    learning_rates = np.array([trial.params["learning_rate"] for trial in random_study.trials])
    # log-uniform over 1e-5..3e-3: about a third of the draws below 1e-4 (a uniform draw would give ~3%)
    assert 0.25 < np.mean(learning_rates < 1e-4) < 0.55
    with_target = [trial for trial in random_study.trials if trial.params["target_network"]]
    assert 100 < len(with_target) < 200
    assert all(("target_update_interval" in trial.params) == trial.params["target_network"] for trial in random_study.trials)


def test_many_random_trials_give_valid_paper_dqn_arguments(random_study: optuna.Study) -> None:
    for trial in random_study.trials[:60]:
        kwargs = convert_paper_dqn_params(trial.params)
        model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=50_000, device="cpu", **kwargs)
        optimizer = model.policy.optimizer
        assert isinstance(optimizer, CenteredRMSprop)
        group = optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(trial.params["learning_rate"])
        assert group["decay"] == pytest.approx(1.0 - trial.params["one_minus_rmsprop_decay"])
        # DeepMind's summed-gradient constant rescaled to a mean over the batch: eps * (2 / batch) ** 2
        assert group["eps"] == pytest.approx(trial.params["rmsprop_eps_summed"] * (2.0 / model.batch_size) ** 2)
        assert model.batch_size == 2 ** trial.params["batch_size_pow"]
        assert model.gamma == pytest.approx(1.0 - trial.params["one_minus_gamma"])
        assert (model.learning_starts, model.exploration_steps) == (
            trial.params["learning_starts"],
            trial.params["exploration_steps"],
        )
        assert model.exploration_final_eps == trial.params["exploration_final_eps"]
        if trial.params["target_network"]:
            assert model.q_net_target is not None
            assert model.target_update_interval == trial.params["target_update_interval"]
        else:
            assert model.q_net_target is None and model.target_update_interval is None


def test_a_sampled_configuration_trains(random_study: optuna.Study) -> None:
    params = dict(random_study.trials[0].params, learning_starts=100)
    model = PaperDQN("MlpPolicy", "CartPole-v1", buffer_size=1_000, device="cpu", seed=0, **convert_paper_dqn_params(params))
    model.learn(300)
    assert model._n_updates == 200
    assert all(math.isfinite(p.abs().sum().item()) for p in model.policy.parameters())


def test_user_attributes_show_what_paper_dqn_receives() -> None:
    params = {
        "learning_rate": 2.5e-4,
        "one_minus_rmsprop_decay": 0.05,
        "rmsprop_eps_summed": 0.01,
        "one_minus_gamma": 0.01,
        "learning_starts": 50_000,
        "exploration_steps": 1_000_000,
        "exploration_final_eps": 0.1,
        "batch_size_pow": 5,
        "target_network": False,
    }
    trial = optuna.trial.FixedTrial(params)
    kwargs = sample_paper_dqn_params(trial, n_actions=6, n_envs=1, additional_args=NO_HER)
    # DeepMind's released settings map to PaperDQN's own defaults
    assert kwargs == {
        "learning_rate": 2.5e-4,
        "gamma": pytest.approx(0.99),
        "batch_size": 32,
        "learning_starts": 50_000,
        "exploration_steps": 1_000_000,
        "exploration_final_eps": 0.1,
        "target_update_interval": None,
        "policy_kwargs": {"optimizer_kwargs": {"decay": pytest.approx(0.95), "eps": pytest.approx(0.01 / 256)}},
    }
    assert trial.user_attrs["gamma"] == pytest.approx(0.99)
    assert trial.user_attrs["batch_size"] == 32
    assert trial.user_attrs["rmsprop_eps"] == pytest.approx(0.01 / 256)
    assert trial.user_attrs["worker"].count(":") == 1


def test_converter_round_trips_the_stored_parameters(random_study: optuna.Study) -> None:
    # rl-zoo3's --trial-id path: convert(study.trials[i].params) must equal what the sampler gave the trial
    for trial in random_study.trials[:20]:
        again = sample_paper_dqn_params(optuna.trial.FixedTrial(trial.params), n_actions=2, n_envs=1, additional_args=NO_HER)
        assert convert_paper_dqn_params(trial.params) == again


def test_converter_names_missing_parameters() -> None:
    with pytest.raises(KeyError, match=r"missing for paper_dqn: \['learning_rate'"):
        convert_paper_dqn_params({"one_minus_gamma": 0.01})
    params = {
        "learning_rate": 1e-3,
        "one_minus_rmsprop_decay": 0.05,
        "rmsprop_eps_summed": 0.01,
        "one_minus_gamma": 0.01,
        "learning_starts": 100,
        "exploration_steps": 1000,
        "exploration_final_eps": 0.1,
        "batch_size_pow": 5,
        "target_network": True,
    }
    with pytest.raises(KeyError, match="target_update_interval"):
        convert_paper_dqn_params(params)
