"""Checkpoints written by an earlier version of the package load and resume: their pickled class paths still resolve."""

import json
import pathlib

import numpy as np
import pytest
import torch as th
from checkpoint_worker import make_env

from sb3_dqn_paper import FrameStackReplayBuffer, PaperDQN, load_checkpoint, resume_learning
from sb3_dqn_paper.rmsprop import CenteredRMSprop

DATA = pathlib.Path(__file__).parent / "data"
FOLDERS = sorted(DATA.glob("checkpoints-*"))


@pytest.mark.parametrize("folder", FOLDERS, ids=[folder.name for folder in FOLDERS])
def test_old_checkpoint_loads_and_resumes(folder: pathlib.Path) -> None:
    """The network gives the Q-values it gave when it was saved; counters, buffer and optimizer come back; it trains on."""
    expected = json.loads((folder / "expected.json").read_text())["image-zstd"]
    model = load_checkpoint(folder / "image-zstd.zip", make_env("image-zstd", seed=5))
    assert isinstance(model, PaperDQN)
    assert isinstance(model.replay_buffer, FrameStackReplayBuffer) and model.replay_buffer.compression == "zstd"
    assert isinstance(model.policy.optimizer, CenteredRMSprop)
    assert (model.num_timesteps, model._n_updates) == (expected["num_timesteps"], expected["n_updates"])
    obs = np.load(folder / "image-zstd-obs.npy")
    with th.no_grad():
        q_values = model.policy.q_net(model.policy.obs_to_tensor(obs)[0]).cpu().numpy()
    np.testing.assert_array_equal(q_values, np.array(expected["q_values"], dtype=np.float32))
    resume_learning(model, expected["num_timesteps"] + 20)
    assert model.num_timesteps == expected["num_timesteps"] + 20
    assert model._n_updates == expected["n_updates"] + 20
