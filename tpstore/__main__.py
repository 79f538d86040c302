"""`python -m tpstore` and the `tpstore` console script: see `tpstore._cli`."""

import sys

from tpstore._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
