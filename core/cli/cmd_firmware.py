"""``psfbench firmware``: where the focus-controller firmware is, and flashing it with avrdude.

    psfbench firmware info                      # .hex files, avrdude, serial ports present
    psfbench firmware flash --board mega --port /dev/ttyACM0 [--dry-run]

Boards: uno, nano, nano-old (old Nano bootloader, 57600 baud), mega. The command line run is
printed first; ``--dry-run`` prints it and stops (no avrdude or board needed).
Details: core/devices/flashing.py, docs/firmware.md.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from psfbench.core.devices.flashing import BOARDS

    p = sub.add_parser("firmware", help="find the focus-controller firmware and flash it")
    fsub = p.add_subparsers(dest="firmware_command", metavar="ACTION")
    fsub.required = True
    info = fsub.add_parser("info", help="print the firmware images, avrdude and serial ports")
    info.set_defaults(func=run_info)
    flash = fsub.add_parser("flash", help="write the firmware to a board with avrdude")
    flash.add_argument("--board", required=True, choices=sorted(BOARDS), help="the board type")
    flash.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0 or COM3")
    flash.add_argument("--hex", help="flash this .hex instead of the bundled one")
    flash.add_argument("--avrdude", help="the avrdude executable (default: bundled, then PATH)")
    flash.add_argument(
        "--dry-run", action="store_true", help="print the avrdude command line and stop"
    )
    flash.set_defaults(func=run_flash)


def run_info(args: argparse.Namespace) -> int:
    from psfbench.core.devices import flashing as fl

    print("firmware images (first found wins):")
    for d in fl.firmware_dirs():
        print(f"  searched {d}")
    for board in fl.BOARDS.values():
        try:
            where = str(fl.find_hex(board))
        except fl.FlashError:
            where = "MISSING"
        print(f"  {board.name:9s} {board.mcu:11s} {where}")
    exe, conf = fl.find_avrdude()
    print(f"avrdude: {exe if exe else 'not found (install avrdude, or pass --avrdude PATH)'}")
    if conf is not None:
        print(f"avrdude.conf: {conf}")
    ports = fl.serial_ports()
    print("serial ports: " + (", ".join(f"{d} ({desc})" for d, desc in ports) or "none found"))
    print("flash with: psfbench firmware flash --board {uno|nano|nano-old|mega} --port PORT")
    return 0


def run_flash(args: argparse.Namespace) -> int:
    import subprocess
    import sys
    from pathlib import Path

    from psfbench.core.cli import UserFacingError
    from psfbench.core.devices import flashing as fl

    board = fl.BOARDS[args.board]
    try:
        hex_path = Path(args.hex) if args.hex else fl.find_hex(board)
    except fl.FlashError as exc:
        raise UserFacingError(str(exc)) from None
    if not hex_path.is_file():
        raise UserFacingError(f"--hex {hex_path}: no such file")
    exe, conf = fl.find_avrdude(args.avrdude)
    argv = fl.avrdude_command(board, args.port, hex_path, exe or "avrdude", conf)
    print(f"board {board.name}: {board.note}")
    print(fl.format_command(argv))
    if args.dry_run:
        return 0
    if exe is None:
        raise UserFacingError(
            "avrdude not found: install it (Debian/Ubuntu: sudo apt install avrdude) or pass "
            "--avrdude PATH"
        )
    if not sys.platform.startswith("win") and not Path(args.port).exists():
        raise UserFacingError(
            f"no serial port {args.port}; ports present: "
            + (", ".join(d for d, _ in fl.serial_ports()) or "none")
        )
    rc = subprocess.run(argv).returncode
    if rc != 0:
        print(
            f"avrdude failed (exit {rc}). Check the board type (an old Nano needs "
            "--board nano-old), that no other program holds the port (close psfbench-gui), "
            "and on Linux that you are in the 'dialout' group.",
            file=sys.stderr,
        )
        return rc
    print("flashed: the board restarts with the new firmware")
    return 0
