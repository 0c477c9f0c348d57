"""The bundle's ``psfbench-gui`` executable (installer/psfbench.spec): the desktop app."""

import sys

from psfbench.app.main import main

if __name__ == "__main__":
    sys.exit(main())
