"""Runs the real focus-controller firmware in simavr behind a pseudo-terminal.

The harness (firmware/sim/fc_harness.c) executes the Mega ELF, exposes its USB serial port as
a pty, simulates the RS-485 distance sensor and the axis' limit switches, and logs every
STEP/DIR/EN/TRIG/DE edge with its CPU cycle. Tests and demos drive the pty with the ordinary
:class:`~psfbench.core.devices.serial_controller.SerialFocusController`, so what they exercise is
the firmware that will be flashed, not a model of it.
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from psfbench.core.devices.protocols import DeviceError

REPO = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO / "firmware"
DEFAULT_ELF = FIRMWARE_DIR / "build" / "mega" / "focus_controller.elf"
DEFAULT_HARNESS = FIRMWARE_DIR / "build" / "sim" / "fc_harness"
CPU_HZ = 16_000_000


@dataclass(frozen=True)
class Edge:
    cycle: int
    name: str
    value: int

    @property
    def t_s(self) -> float:
        return self.cycle / CPU_HZ


def build_firmware(targets: tuple[str, ...] = ("all", "sim"), timeout_s: float = 600.0) -> None:
    """``make -C firmware <targets>``; raises with the build log's tail on failure."""
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE_DIR), *targets],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        raise DeviceError(
            f"firmware build failed (make -C {FIRMWARE_DIR} {' '.join(targets)}):\n"
            + (proc.stdout + proc.stderr)[-3000:]
        )


class FirmwareSimulator:
    """One simulated controller board; use as a context manager.

    ``start_pos`` is the carriage's physical distance (steps) above the MIN switch, ``travel``
    where the MAX switch closes; the sensor reads ``sensor_base_um + phys * um_per_step``.
    ``dtr_reset_ms`` > 0 emulates the DTR auto-reset of USB Arduinos on every port open.
    Firmware position 0 (after homing) is physical position 1: the first step off the switch.
    """

    def __init__(
        self,
        *,
        elf: Path = DEFAULT_ELF,
        harness: Path = DEFAULT_HARNESS,
        workdir: Path | None = None,
        start_pos: int = 300,
        travel: int = 100_000,
        sensor_base_um: float = 250_000.0,
        um_per_step: float = 5.0,
        throttle: bool = True,
        mcu: str = "atmega2560",
        dtr_reset_ms: int = 0,
    ) -> None:
        for p, what in ((elf, "firmware ELF"), (harness, "simavr harness")):
            if not Path(p).exists():
                raise DeviceError(f"{what} not found: {p} (run `make -C firmware all sim`)")
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fcsim-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = str(self.workdir / "ttyFC")
        self.edges_path = self.workdir / "edges.log"
        self.sensor_base_um = sensor_base_um
        self.um_per_step = um_per_step
        args = [
            str(harness),
            "--elf",
            str(elf),
            "--pty-link",
            self.port,
            "--edges",
            str(self.edges_path),
            "--start-pos",
            str(start_pos),
            "--travel",
            str(travel),
            "--sensor-base-um",
            repr(sensor_base_um),
            "--um-per-step",
            repr(um_per_step),
        ]
        args += ["--mcu", mcu]
        if dtr_reset_ms:
            # Like an Uno/Mega on USB: opening the port resets the board, whose bootloader
            # swallows the line for dtr_reset_ms before the sketch starts.
            args += ["--dtr-reset-ms", str(dtr_reset_ms)]
        if not throttle:
            args.append("--no-throttle")
        self._err = open(self.workdir / "harness.stderr", "w+b")  # noqa: SIM115
        self._proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err
        )
        self._buf = b""
        line = self._expect("PTY ", 10.0)
        self.pty_name = line.split(" ", 1)[1]

    def _expect(self, prefix: str, timeout_s: float) -> str:
        """Next stdout line starting with ``prefix`` (simavr's own chatter is skipped)."""
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                line = raw.decode(errors="replace").strip()
                if line.startswith(prefix):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceError(f"simavr harness did not answer {prefix!r} within {timeout_s} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self._err.seek(0)
                    err = self._err.read().decode(errors="replace")
                    raise DeviceError(f"simavr harness exited: {err[-2000:]}")
                self._buf += chunk

    def control(self, command: str, timeout_s: float = 10.0) -> dict[str, int]:
        """Send a harness control line; returns its counters (phys, steps, cycle, faults...)."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(command.encode() + b"\n")
        self._proc.stdin.flush()
        word = command.split()[0]
        line = self._expect(f"ACK {word}", timeout_s)
        fields = {}
        for item in line.split()[2:]:
            k, _, v = item.partition("=")
            fields[k] = int(v)
        return fields

    def counters(self) -> dict[str, int]:
        return self.control("flush")

    def edges(self) -> list[Edge]:
        """All logged edges so far (flushes the harness first)."""
        self.counters()
        out = []
        for raw in self.edges_path.read_text().splitlines():
            cyc, name, val = raw.split()
            out.append(Edge(int(cyc), name, int(val)))
        return out

    def sensor_um_at(self, firmware_position: int) -> int:
        """The distance the simulated sensor reports with the axis at a firmware position."""
        return int(self.sensor_base_um + (firmware_position + 1) * self.um_per_step + 0.5)

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=10)
        for f in (self._proc.stdin, self._proc.stdout):
            if f is not None:
                f.close()
        self._err.close()
        if os.path.islink(self.port):
            os.unlink(self.port)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FirmwareSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
