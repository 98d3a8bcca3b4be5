"""
Write the checkpoints that ``test_checkpoint_legacy.py`` loads: run it with the code whose files must keep loading.

``python tests/make_legacy_checkpoints.py tests/data/checkpoints-<commit>`` writes, for the image env with a
zstd-compressing replay buffer (Pong's would be 11 MB), a checkpoint after a short run and ``expected.json``: the run's
counters and the Q-values of the saved network on the env's first observation, which a load must reproduce exactly.
"""

import json
import pathlib
import sys

import numpy as np
import torch as th

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from checkpoint_worker import make_env, make_model

from sb3_dqn_paper import save_checkpoint

STEPS = 200
SEED = 5


def main(out: str) -> None:
    folder = pathlib.Path(out)
    folder.mkdir(parents=True, exist_ok=False)
    expected = {}
    for name in ("image-zstd",):
        model = make_model(name, make_env(name, seed=SEED))
        model.learn(STEPS)
        save_checkpoint(model, folder / f"{name}.zip")
        obs = make_env(name, seed=SEED).reset()
        with th.no_grad():
            q_values = model.policy.q_net(model.policy.obs_to_tensor(obs)[0]).cpu().numpy()
        np.save(folder / f"{name}-obs.npy", obs)
        expected[name] = {
            "num_timesteps": model.num_timesteps,
            "n_updates": model._n_updates,
            "q_values": q_values.tolist(),
        }
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
