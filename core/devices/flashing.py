"""Flashing the focus-controller firmware with ``avrdude`` (``psfbench firmware``).

The board and the serial port are always the user's choice; nothing is guessed. The ``.hex``
files are looked up, in this order, in ``$PSFBENCH_FIRMWARE_DIR``, in the installed bundle
(``<bundle>/firmware/<build>/focus_controller.hex``, put there by ``installer/psfbench.spec``)
and in a source checkout (``firmware/build/<build>/``, made by ``make firmware``). ``avrdude``
is ``--avrdude PATH``, else ``$PSFBENCH_AVRDUDE``, else one bundled beside the firmware
(``<bundle>/avrdude/``, the Windows installer can carry one), else the first on ``PATH``.

The command line is the one ``docs/firmware.md`` documents, e.g. for a Mega 2560::

    avrdude -p atmega2560 -c wiring -P /dev/ttyACM0 -b 115200 -D \\
            -U flash:w:<bundle>/firmware/mega/focus_controller.hex:i
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HEX_NAME = "focus_controller.hex"
ENV_FIRMWARE_DIR = "PSFBENCH_FIRMWARE_DIR"
ENV_AVRDUDE = "PSFBENCH_AVRDUDE"


class FlashError(Exception):
    """A complete, actionable message (no firmware, no avrdude, no such port...)."""


@dataclass(frozen=True)
class Board:
    name: str
    mcu: str  # avrdude -p
    programmer: str  # avrdude -c (the bootloader's protocol)
    baud: int  # avrdude -b
    build: str  # firmware/build/<build>/
    note: str


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("uno", "atmega328p", "arduino", 115200, "uno", "Arduino Uno (Optiboot)"),
        Board(
            "nano",
            "atmega328p",
            "arduino",
            115200,
            "uno",
            "Arduino Nano, current (Optiboot) bootloader; same chip and pins as the Uno",
        ),
        Board(
            "nano-old",
            "atmega328p",
            "arduino",
            57600,
            "uno",
            "Arduino Nano or clone with the old bootloader (try it when 'nano' times out)",
        ),
        Board(
            "mega",
            "atmega2560",
            "wiring",
            115200,
            "mega",
            "Arduino Mega 2560 (stk500v2 bootloader), the recommended board",
        ),
    )
}


def bundle_dir() -> Path | None:
    """The unpacked PyInstaller bundle's data folder, or None when not frozen."""
    base = getattr(sys, "_MEIPASS", None)
    return Path(base) if getattr(sys, "frozen", False) and base else None


def firmware_dirs() -> list[Path]:
    """Folders searched for ``<build>/focus_controller.hex``, first match wins."""
    dirs = []
    if os.environ.get(ENV_FIRMWARE_DIR):
        dirs.append(Path(os.environ[ENV_FIRMWARE_DIR]))
    bundle = bundle_dir()
    if bundle is not None:
        dirs.append(bundle / "firmware")
    else:  # a source checkout: <repo>/core/devices/flashing.py -> <repo>/firmware/build
        dirs.append(Path(__file__).resolve().parents[2] / "firmware" / "build")
    return dirs


def find_hex(board: Board) -> Path:
    """The board's firmware image; FlashError naming every place looked in."""
    tried = []
    for d in firmware_dirs():
        path = d / board.build / HEX_NAME
        if path.is_file():
            return path
        tried.append(str(path))
    raise FlashError(
        f"no firmware image for board {board.name!r}; looked in: {', '.join(tried)}. "
        "In a source checkout run 'make firmware', or set "
        f"{ENV_FIRMWARE_DIR} to a folder holding {board.build}/{HEX_NAME}."
    )


def find_avrdude(explicit: str | None = None) -> tuple[Path | None, Path | None]:
    """(avrdude executable or None, its avrdude.conf when one lies beside a bundled copy)."""
    if explicit or os.environ.get(ENV_AVRDUDE):
        path = Path(explicit or os.environ[ENV_AVRDUDE])
        return (path if path.is_file() else None), None
    bundle = bundle_dir()
    if bundle is not None:
        for name in ("avrdude.exe", "avrdude"):
            exe = bundle / "avrdude" / name
            if exe.is_file():
                conf = exe.with_name("avrdude.conf")
                return exe, conf if conf.is_file() else None
    found = shutil.which("avrdude")
    return (Path(found) if found else None), None


def avrdude_command(
    board: Board,
    port: str,
    hex_path: Path,
    avrdude: Path | str = "avrdude",
    conf: Path | None = None,
) -> list[str]:
    """The avrdude argv: write flash (``-D``: no chip erase, the bootloader does it), verify."""
    argv = [str(avrdude)]
    if conf is not None:
        argv += ["-C", str(conf)]
    argv += ["-p", board.mcu, "-c", board.programmer, "-P", port, "-b", str(board.baud), "-D"]
    argv += ["-U", f"flash:w:{hex_path}:i"]
    return argv


def format_command(argv: list[str]) -> str:
    if sys.platform == "win32":
        import subprocess

        return subprocess.list2cmdline(argv)
    return shlex.join(argv)


def serial_ports() -> list[tuple[str, str]]:
    """(device, description) of the serial ports present now (pyserial), for the user to pick."""
    try:
        from serial.tools import list_ports
    except ImportError:  # pragma: no cover - pyserial is a dependency
        return []
    return [(p.device, p.description or "") for p in sorted(list_ports.comports())]
