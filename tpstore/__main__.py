"""`python -m tpstore` and the `tpstore` console script: see `tpstore._cli.commands`."""

import sys

from tpstore._cli.commands import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
