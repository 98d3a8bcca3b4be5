"""``python -m sb3_dqn_paper.checkpoint``: see :func:`sb3_dqn_paper.checkpoint.cli.main`."""

import sys

from sb3_dqn_paper.checkpoint.cli import main

if __name__ == "__main__":
    sys.exit(main())
