"""
The switch of the rl-zoo3 import hook, shared by :mod:`sb3_dqn_paper.zoo.hook` and
:mod:`sb3_dqn_paper.zoo.registration` so that neither imports the other. Standard library only: the hook imports it at
every interpreter start.
"""

import os

#: Environment variable that switches the hook off when set to 0, false, no or off.
DISABLE_VARIABLE = "SB3_DQN_PAPER_ZOO_HOOK"


def hook_enabled() -> bool:
    """
    Whether the environment allows the hook (``SB3_DQN_PAPER_ZOO_HOOK`` unset, or not 0/false/no/off).

    :return: True unless the hook was switched off
    """
    return os.environ.get(DISABLE_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")
