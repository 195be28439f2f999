"""``python -m looptool``: the same command line as the ``looptool`` script."""

import sys

from looptool.cli import main

sys.exit(main())
