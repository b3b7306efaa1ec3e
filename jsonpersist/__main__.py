"""``python -m jsonpersist``: the command line, see ``jsonpersist --help``."""

import sys

from jsonpersist._cli import main

sys.exit(main())
