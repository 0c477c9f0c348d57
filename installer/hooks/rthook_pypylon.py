"""PyInstaller runtime hook: pylon loads its transport layers (USB, GigE, emulator) at run time
from ``PYLON_TL_PATH``. In a bundle nothing points there, so cameras silently vanish
(design.md); point it at the bundled ``pypylon`` folder, which holds ``libpylon_TL_*.so`` /
``PylonUsb_*.dll`` and, on Linux, ``pylon-libusb-*.so``. The spec adds this hook only when
pypylon was installed at build time; without the folder it does nothing."""

import os
import sys

_tl_dir = os.path.join(getattr(sys, "_MEIPASS", ""), "pypylon")
if os.path.isdir(_tl_dir):
    os.environ["PYLON_TL_PATH"] = _tl_dir
