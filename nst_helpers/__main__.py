"""`python -m nst_helpers` runs the `nst` command."""

import sys

from nst_helpers.cli.command import main

if __name__ == "__main__":
    sys.exit(main())
