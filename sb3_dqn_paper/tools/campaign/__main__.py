"""``python -m sb3_dqn_paper.tools.campaign``: see :mod:`sb3_dqn_paper.tools.campaign.cli`."""

import sys

from sb3_dqn_paper.tools.campaign.cli import main

if __name__ == "__main__":
    sys.exit(main())
