"""The paper's average action value on held-out states (Figure 2, right)."""

import json

import numpy as np
import pytest
import torch as th

from sb3_dqn_paper import PaperDQN, make_paper_atari_env
from sb3_dqn_paper.errors import InvalidArgumentError
from sb3_dqn_paper.tools.held_out_q import STATE_STRIDE, average_max_q, collect_held_out_states, inactive_units, main


def test_states_are_a_fixed_random_play_sample() -> None:
    states = collect_held_out_states("PongNoFrameskip-v4", n_states=40, seed=3)
    assert states.shape == (40, 4, 84, 84) and states.dtype == np.uint8
    np.testing.assert_array_equal(states, collect_held_out_states("PongNoFrameskip-v4", n_states=40, seed=3))
    assert not np.array_equal(states, collect_held_out_states("PongNoFrameskip-v4", n_states=40, seed=4))
    # consecutive kept states are STATE_STRIDE agent steps apart: different frames
    assert STATE_STRIDE > 1 and not np.array_equal(states[20], states[21])


def test_average_max_q_is_the_mean_of_the_greedy_values(tmp_path, capsys) -> None:
    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0)
    model = PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=10, seed=0, device="cpu")
    states = collect_held_out_states("PongNoFrameskip-v4", n_states=70, seed=0)
    reference = []
    with th.no_grad():
        for state in states:
            q_values = model.q_net(th.as_tensor(state[None]).float())  # q_net divides by 255 itself
            reference.append(float(q_values.max()))
    # batches of 32 (not a divisor of 70) give the same mean as one state at a time
    assert average_max_q(model, states, batch_size=32) == pytest.approx(np.mean(reference), rel=1e-5)
    path = tmp_path / "model.zip"
    model.save(path)
    out = tmp_path / "q.json"
    assert main([str(path), "--env", "PongNoFrameskip-v4", "--states", "70", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["models"]
    assert row["num_timesteps"] == 0 and row["average_max_q"] == pytest.approx(np.mean(reference), rel=1e-5)
    # inactive units: the 256 features that are zero on all 70 states, computed here in one batch
    with th.no_grad():
        features = model.q_net.features_extractor(th.as_tensor(states).float() / 255.0)
    expected = int((features == 0).all(dim=0).sum())
    assert inactive_units(model, states, batch_size=32) == (expected, 256)
    assert (row["inactive_units"], row["units"]) == (expected, 256)
    # killing units (a large negative bias) is seen
    with th.no_grad():
        model.q_net.features_extractor.linear[0].bias[:10] = -1e6
    assert inactive_units(model, states) == (len(set(range(10)) | set(np.flatnonzero((features == 0).all(0).numpy()))), 256)
    assert "average max Q over 70 held-out states" in capsys.readouterr().out
    # bad input: a missing file, a model of another observation shape, no states
    assert main([str(tmp_path / "missing.zip"), "--env", "PongNoFrameskip-v4"]) == 2
    assert "no such model file" in capsys.readouterr().err
    assert main([str(path), "--env", "CartPole-v1", "--states", "5"]) == 2
    assert "acts in Discrete(6) but CartPole-v1 has the action space Discrete(2)" in capsys.readouterr().err
    assert main([str(path), "--env", "PongNoFrameskip-v4", "--states", "0"]) == 2
    assert "--states must be at least 1" in capsys.readouterr().err


def test_a_model_of_another_game_or_a_bad_out_is_refused_before_collecting(tmp_path, capsys, monkeypatch) -> None:
    """Pong (6 actions) on Breakout (4 actions, the same observations), a non-discrete env, an existing --out file."""
    from sb3_dqn_paper.tools import held_out_q

    collected = []
    real_collect = held_out_q.collect_held_out_states
    monkeypatch.setattr(held_out_q, "collect_held_out_states", lambda *a, **k: collected.append(1) or real_collect(*a, **k))
    env = make_paper_atari_env("PongNoFrameskip-v4", seed=0)
    path = tmp_path / "pong.zip"
    PaperDQN("CnnPolicy", env, buffer_size=100, learning_starts=10, seed=0, device="cpu").save(path)
    env.close()
    assert main([str(path), "--env", "BreakoutNoFrameskip-v4", "--states", "5"]) == 2
    assert "acts in Discrete(6) but BreakoutNoFrameskip-v4 has the action space Discrete(4)" in capsys.readouterr().err
    assert main([str(path), "--env", "Pendulum-v1", "--states", "5"]) == 2
    assert "Pendulum-v1 has the action space Box" in capsys.readouterr().err
    assert collected == []
    with pytest.raises(InvalidArgumentError, match="needs a Discrete one"):
        real_collect("Pendulum-v1", n_states=5)
    # --out: an existing file is replaced only with --overwrite, as evaluate does
    out = tmp_path / "q.json"
    out.write_text("earlier\n")
    assert main([str(path), "--env", "PongNoFrameskip-v4", "--states", "5", "--out", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text() == "earlier\n" and collected == []
    assert main([str(path), "--env", "PongNoFrameskip-v4", "--states", "5", "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text())["n_states"] == 5 and collected == [1]
