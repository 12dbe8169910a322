"""``python -m sosrelax``: the same as the ``sosrelax`` command."""

import sys

from sosrelax.cli import main

sys.exit(main())
