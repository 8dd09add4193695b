"""``python -m flm_core``: the ``flm`` command."""

import sys

from flm_core.cli import main

sys.exit(main())
