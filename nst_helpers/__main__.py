"""`python -m nst_helpers` runs the `nst` command."""

import sys

from nst_helpers.cli import main

sys.exit(main())
