"""``python -m skclipens``: the ``skclipens`` command."""

import sys

from ._cli import main

sys.exit(main())
