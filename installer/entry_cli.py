"""The bundle's ``psfbench`` executable (installer/psfbench.spec): the command line."""

import sys

from psfbench.core.cli import main

if __name__ == "__main__":
    sys.exit(main())
