"""
The tools around the algorithm: evaluation with the paper's protocol, reports against Table 1, GIF recording,
held-out Q and overestimation measures, agent export, checkpoint listing, the seven-game campaign, and the
``sb3-dqn-paper`` command. They use the library (:mod:`sb3_dqn_paper`); the library never imports them.
"""
