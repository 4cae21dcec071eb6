"""``python -m infosynth_core`` = the ``infosynth`` command."""

import sys

from .cli import main

sys.exit(main())
