import sys

from psfbench.core.cli import main

sys.exit(main())
