"""`python -m frontdesk.cli` runs the command line."""

import sys

from frontdesk.cli import main

sys.exit(main())
