"""``python -m sandbox``: see :mod:`sandbox.cli`."""

import sys

from .cli import main

sys.exit(main())
