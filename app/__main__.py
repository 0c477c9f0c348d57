"""``python -m psfbench.app``: the desktop application (same as ``psfbench-gui``)."""

import sys

from psfbench.app.main import main

sys.exit(main())
