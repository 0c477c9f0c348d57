"""psfbench core: everything that is not Qt.

Optics, rendering, losses, fitting, fringe projection, focus stacking, dataset I/O, devices,
acquisition and the CLI live here. This package never imports Qt (an import-linter contract in
pyproject.toml enforces it), so it runs headless on lab servers and in CI, and the GUI in
``app/`` stays a thin view over it.
"""

__version__ = "0.1.0"
