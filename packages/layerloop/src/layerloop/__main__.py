"""``python -m layerloop``: the command line (see :mod:`layerloop._cli`)."""

import sys

from ._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
