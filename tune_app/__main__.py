"""``python -m tune_app`` is ``prune-sweep``."""

import sys

from tune_app.cli import main

sys.exit(main())
