"""
rl-zoo3 integration: ``paper_dqn`` as an rl-zoo3 algorithm, its hyperparameter file and its Optuna sampler.

- :mod:`sb3_dqn_paper.zoo.hook`: the import hook run from ``sb3_dqn_paper_zoo.pth`` (standard library only),
- :mod:`sb3_dqn_paper.zoo.switch`: the hook's on/off switch (``SB3_DQN_PAPER_ZOO_HOOK``), shared by the two below,
- :mod:`sb3_dqn_paper.zoo.registration`: what is added to rl-zoo3's dicts and ``ExperimentManager``,
- :mod:`sb3_dqn_paper.zoo.sampler`: the Optuna search space over what the paper left open,
- :mod:`sb3_dqn_paper.zoo.resume`: exact resume from ``-i CHECKPOINT``, checkpoints for ``--save-freq``, evaluations
  that leave training's random states alone,
- :mod:`sb3_dqn_paper.zoo.hyperparams`: where the shipped ``paper_dqn.yml`` is,
- :mod:`sb3_dqn_paper.zoo.atari_wrapper`: the paper's Atari preprocessing as rl-zoo3's ``env_wrapper``,
- ``python -m sb3_dqn_paper.zoo train|enjoy|...``: the same rl-zoo3 commands with explicit registration.

This ``__init__`` imports nothing, so that the hook stays cheap at interpreter start.
"""
