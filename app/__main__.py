"""``python -m app``: the desktop application (same as ``psfbench-gui``)."""

import sys

from app.main import main

sys.exit(main())
