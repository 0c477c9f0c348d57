"""Serial driver for the psfbench focus-controller firmware (docs/protocol.md).

One request is outstanding at a time, so a reply is matched by its sequence number and anything
else on the line is either stale (an earlier reply repeated after a retry) or a report of a
damaged frame. A retry re-sends the *same* frame: the firmware recognises the sequence number and
checksum and repeats its cached reply instead of acting twice, which is what makes retrying a
``MOVE`` safe. Every damaged line in either direction is counted in :attr:`link_stats`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psfbench.core.devices.protocols import (
    ControllerInfo,
    ControllerStatus,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    LimitError,
    StepResult,
)

PROTOCOL_VERSION = 1
MAX_REQUEST = 72  # longest request line the firmware accepts (without the newline)
MAX_REPLY = 87  # longest reply line the firmware can send

# Error codes from docs/protocol.md (firmware/focus_controller/protocol.h).
E_CRC, E_SYNTAX, E_UNKNOWN, E_ARG, E_RANGE = 1, 2, 3, 4, 5
E_BUSY, E_NOTHOMED, E_ESTOP, E_SENSOR, E_LIMIT = 6, 7, 8, 9, 10

# STAT flag bits.
F_MOVING, F_HOMED, F_LIMIT_HIT, F_LIMIT_MIN, F_LIMIT_MAX = 1, 2, 4, 8, 16
F_SENSOR_ERR, F_ESTOP, F_SWEEP, F_ENABLED, F_HOMING = 32, 64, 128, 256, 512


def crc16_ccitt(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE, the host-link checksum (check value 0x29B1 for b"123456789")."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def encode_frame(payload: str) -> bytes:
    """``payload*XXXX\\n`` with the payload's CRC in upper-case hex."""
    raw = payload.encode("ascii")
    return raw + b"*%04X\n" % crc16_ccitt(raw)


def decode_frame(line: bytes, max_len: int = MAX_REPLY) -> str | None:
    """The payload of an intact frame (without its newline), or None when damaged."""
    if len(line) < 6 or len(line) > max_len or line[-5:-4] != b"*":
        return None
    tail = line[-4:]
    if any(c not in b"0123456789ABCDEF" for c in tail):
        return None
    payload = line[:-5]
    if crc16_ccitt(payload) != int(tail, 16):
        return None
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


class FirmwareError(DeviceError):
    """The controller answered ``ERR <code> <word>``; ``code`` is the protocol error code."""

    def __init__(self, message: str, code: int, word: str) -> None:
        super().__init__(message)
        self.code = code
        self.word = word


class FirmwareLimitError(FirmwareError, LimitError):
    """A refused value or a move outside the soft limits (or stopped by a limit switch)."""


@dataclass
class LinkStats:
    """What the link survived; tests audit these against injected faults."""

    requests: int = 0  # commands issued (retries not counted)
    sends: int = 0  # frames written, retries included
    bad_replies: int = 0  # non-empty lines from the controller that failed the CRC/framing check
    frame_errors: int = 0  # controller reports of a damaged request ("0 ERR ...")
    timeouts: int = 0  # reply waits that expired
    stale: int = 0  # intact replies to an earlier sequence number (discarded)
    resets: int = 0  # boot banners seen (the board restarted)


class SerialFocusController:
    """:class:`~psfbench.core.devices.protocols.FocusController` over a serial port (pyserial).

    ``port`` is anything ``serial.serial_for_url`` opens (``/dev/ttyACM0``, a pty path,
    ``rfc2217://``). ``timeout_s`` is the wait for one reply before re-sending the same frame;
    ``retries`` bounds the re-sends. ``boot_timeout_s`` covers a board that resets when the port
    opens (Uno/Mega DTR auto-reset, about 1-2 s in the bootloader): the handshake keeps asking
    until the firmware answers, so boards that do not reset (USB-serial adapters, ptys) connect
    at once.
    """

    def __init__(
        self,
        port: str,
        *,
        baud: int = 115200,
        timeout_s: float = 0.5,
        retries: int = 12,
        boot_timeout_s: float = 5.0,
        poll_interval_s: float = 0.005,
        serial_factory: Callable[..., Any] | None = None,
    ) -> None:
        if timeout_s <= 0 or retries < 1:
            raise ValueError("timeout_s must be > 0 and retries >= 1")
        self.port = port
        self.baud = baud
        self.timeout_s = timeout_s
        self.retries = retries
        self.boot_timeout_s = boot_timeout_s
        self.poll_interval_s = poll_interval_s
        self._factory = serial_factory
        self._ser: Any = None
        self._rx = bytearray()
        self._seq = 0
        self._lock = threading.RLock()
        self._info: ControllerInfo | None = None
        self.capabilities: tuple[str, ...] = ()
        self.board = ""
        self.link_stats = LinkStats()
        self.reset_detected = False  # set when a boot banner arrives; cleared by connect()
        self._last_us = 0
        self._wraps = 0

    # ------------------------------------------------------------------ connection

    @property
    def is_connected(self) -> bool:
        return self._ser is not None

    def connect(self) -> None:
        """Open the port and handshake (``HELLO``); safe to call again after an unplug."""
        with self._lock:
            self._close_port()
            try:
                if self._factory is not None:
                    self._ser = self._factory(self.port, self.baud)
                else:
                    import serial

                    self._ser = serial.serial_for_url(self.port, baudrate=self.baud, timeout=0)
            except Exception as exc:
                self._ser = None
                raise DeviceDisconnected(
                    f"focus controller: cannot open {self.port}: {exc}"
                ) from exc
            self._rx.clear()
            self._seq = int(time.monotonic_ns() // 1000) % 60000  # fresh numbers per session
            self._write(b"\n")  # terminate any partial line left in the firmware's buffer
            deadline = time.monotonic() + self.boot_timeout_s
            last: Exception | None = None
            while time.monotonic() < deadline:
                try:
                    fields = self._transact("HELLO", (), retries=1)
                    break
                except DeviceTimeout as exc:
                    last = exc
            else:
                self._close_port()
                raise DeviceTimeout(
                    f"focus controller on {self.port}: no answer to HELLO within "
                    f"{self.boot_timeout_s:.1f} s (wrong port or baud rate {self.baud}?)"
                ) from last
            proto, name, version, board, caps = (fields + ["", "", "", "", ""])[:5]
            if proto != str(PROTOCOL_VERSION):
                self._close_port()
                raise DeviceError(
                    f"focus controller on {self.port} speaks protocol {proto!r}, "
                    f"this driver speaks {PROTOCOL_VERSION}: update the firmware or psfbench"
                )
            self._info = ControllerInfo(name=name, firmware_version=version, protocol_version=1)
            self.board = board
            self.capabilities = tuple(c for c in caps.split(",") if c)
            self.reset_detected = False

    def reconnect(self, *, rehome: bool = False, timeout_s: float = 60.0) -> None:
        """Reopen after an unplug/replug; a board that restarted is un-homed, so home on request."""
        self.connect()
        if rehome and not self.status().homed:
            self.home(timeout_s=timeout_s)

    def close(self) -> None:
        with self._lock:
            self._close_port()

    def _close_port(self) -> None:
        if self._ser is not None:
            with contextlib.suppress(Exception):
                self._ser.close()
        self._ser = None

    # ------------------------------------------------------------------ link layer

    def _write(self, data: bytes) -> None:
        try:
            self._ser.write(data)
        except Exception as exc:
            self._close_port()
            raise DeviceDisconnected(f"focus controller on {self.port} vanished: {exc}") from exc

    def _read_line(self, deadline: float) -> bytes | None:
        """Next complete line (without ``\\n``), or None when the deadline passes."""
        while True:
            nl = self._rx.find(b"\n")
            if nl >= 0:
                line = bytes(self._rx[:nl])
                del self._rx[: nl + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                self._ser.timeout = min(remaining, 0.05)
                chunk = self._ser.read(max(1, self._ser.in_waiting))
            except Exception as exc:
                self._close_port()
                raise DeviceDisconnected(
                    f"focus controller on {self.port} vanished: {exc}"
                ) from exc
            if chunk:
                self._rx += chunk

    def _next_seq(self) -> int:
        self._seq = self._seq % 65535 + 1
        return self._seq

    def _transact(
        self,
        cmd: str,
        args: Sequence[int],
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> list[str]:
        """Send one command, retrying the identical frame until its reply arrives."""
        if self._ser is None:
            raise DeviceDisconnected(f"focus controller on {self.port} is not connected")
        seq = self._next_seq()
        payload = " ".join([str(seq), cmd, *(str(int(a)) for a in args)])
        frame = encode_frame(payload)
        wait = self.timeout_s if timeout_s is None else timeout_s
        tries = self.retries if retries is None else retries
        self.link_stats.requests += 1
        for _attempt in range(tries):
            self._write(frame)
            self.link_stats.sends += 1
            deadline = time.monotonic() + wait
            while True:
                line = self._read_line(deadline)
                if line is None:
                    self.link_stats.timeouts += 1
                    break  # re-send the same frame
                if not line:
                    continue
                text = decode_frame(line)
                if text is None:
                    self.link_stats.bad_replies += 1
                    break  # possibly our reply, damaged: ask again at once
                head, _, rest = text.partition(" ")
                if head == "0":
                    if rest.startswith("BOOT"):
                        self.link_stats.resets += 1
                        self.reset_detected = True
                        break  # the board restarted: our request may be lost
                    self.link_stats.frame_errors += 1
                    break  # a request frame was damaged (maybe ours): re-send
                if head != str(seq):
                    self.link_stats.stale += 1
                    continue
                return self._check_reply(cmd, rest)
        raise DeviceTimeout(
            f"focus controller on {self.port}: no valid reply to {cmd} after {tries} attempts "
            f"({wait:.2f} s each)"
        )

    def _check_reply(self, cmd: str, rest: str) -> list[str]:
        fields = rest.split(" ")
        if fields[0] == "OK":
            return fields[1:]
        if fields[0] == "ERR" and len(fields) >= 3 and fields[1].isdigit():
            code, word = int(fields[1]), fields[2]
            msg = f"focus controller refused {cmd}: {word} (code {code})"
            hint = {
                E_NOTHOMED: "; home the axis first",
                E_ESTOP: "; e-stop latched, home to clear it",
                E_RANGE: "; outside the allowed range or the soft limits",
                E_SENSOR: "; check the RS-485 wiring and the sensor's address",
                E_LIMIT: "; a limit switch stopped the motion",
            }.get(code, "")
            cls = FirmwareLimitError if code in (E_RANGE, E_LIMIT) else FirmwareError
            raise cls(msg + hint, code, word)
        raise DeviceError(f"focus controller sent an unexpected reply to {cmd}: {rest!r}")

    def command(self, cmd: str, *args: int, timeout_s: float | None = None) -> list[str]:
        """Raw protocol access: the reply's fields after ``OK`` (raises on ``ERR``)."""
        with self._lock:
            return self._transact(cmd, args, timeout_s=timeout_s)

    def _us_to_s(self, us: int) -> float:
        """Firmware micros() (wraps every 71.6 min) to monotonic seconds for this session."""
        if us < self._last_us and self._last_us - us > 1 << 31:
            self._wraps += 1
        self._last_us = us
        return (self._wraps * (1 << 32) + us) * 1e-6

    # ------------------------------------------------------------------ FocusController

    def identify(self) -> ControllerInfo:
        fields = self.command("ID")
        name, version = fields[0], fields[1]
        self._info = ControllerInfo(name=name, firmware_version=version, protocol_version=1)
        return self._info

    def version(self) -> str:
        return self.identify().firmware_version

    def status(self) -> ControllerStatus:
        pos, flags, tc, _ti, _bad, _sf = (int(x) for x in self.command("STAT")[:6])
        return ControllerStatus(
            moving=bool(flags & (F_MOVING | F_HOMING)),
            homed=bool(flags & F_HOMED),
            limit_hit=bool(flags & (F_LIMIT_HIT | F_LIMIT_MIN | F_LIMIT_MAX)),
            sensor_error=bool(flags & F_SENSOR_ERR),
            trigger_count=tc,
            position=pos,
            estopped=bool(flags & F_ESTOP),
        )

    def raw_status(self) -> dict[str, int]:
        """Every STAT field: position, flags, trigger counts, damaged frames, sensor failures."""
        keys = (
            "position",
            "flags",
            "trigger_count",
            "trigger_in_count",
            "bad_frames",
            "sensor_failures",
        )
        return dict(zip(keys, (int(x) for x in self.command("STAT")), strict=False))

    def position(self) -> int:
        return int(self.command("POS")[0])

    def _wait(self, timeout_s: float, what: str) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            flags = int(self.command("STAT")[1])
            if not flags & (F_MOVING | F_HOMING):
                return flags
            if time.monotonic() > deadline:
                self.stop()
                raise DeviceTimeout(f"focus controller: {what} did not finish within {timeout_s} s")
            time.sleep(self.poll_interval_s)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        self._wait(timeout_s, "motion")

    def home(self, timeout_s: float = 60.0) -> None:
        self.command("HOME")
        flags = self._wait(timeout_s, "homing")
        if not flags & F_HOMED:
            raise DeviceError(
                "focus controller: homing was interrupted (stop or e-stop); home again"
            )

    def _move(self, cmd: str, value: int, wait: bool, timeout_s: float) -> None:
        self.command(cmd, int(value))
        if wait:
            flags = self._wait(timeout_s, "move")
            if flags & F_LIMIT_HIT:
                raise FirmwareLimitError(
                    "focus controller: a limit switch stopped the move; check the soft limits",
                    E_LIMIT,
                    "LIMIT",
                )

    def move_abs(self, target_steps: int, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        self._move("MOVE", target_steps, wait, timeout_s)

    def move_rel(self, delta_steps: int, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        self._move("MOVR", delta_steps, wait, timeout_s)

    def stop(self) -> None:
        self.command("STOP")

    def estop(self) -> None:
        self.command("ESTOP")

    def soft_limits(self) -> tuple[int, int]:
        lo, hi = self.command("LIM")[:2]
        return int(lo), int(hi)

    def set_soft_limits(self, low: int, high: int) -> None:
        self.command("LIM", int(low), int(high))

    def speed(self) -> float:
        return float(self.command("SPD")[0])

    def set_speed(self, steps_per_s: float) -> None:
        self.command("SPD", round(steps_per_s))

    def acceleration(self) -> float:
        return float(self.command("ACC")[0])

    def set_acceleration(self, steps_per_s2: float) -> None:
        self.command("ACC", round(steps_per_s2))

    def steps_per_mm(self) -> float:
        return int(self.command("SPMM")[0]) / 1000.0

    def set_steps_per_mm(self, value: float) -> None:
        """Stored in the controller's EEPROM at once (survives power cycles)."""
        self.command("SPMM", round(value * 1000))

    def trigger_width_us(self) -> int:
        return int(self.command("TW")[0])

    def set_trigger_width_us(self, width_us: int) -> None:
        self.command("TW", int(width_us))

    def save_settings(self) -> None:
        """Persist speed, acceleration, soft limits, trigger width and sensor settings."""
        self.command("SAVE")

    def read_distance_mm(self) -> float:
        # Modbus: up to 3 attempts x 50 ms inside the firmware, so allow a longer reply wait.
        return int(self.command("DIST", timeout_s=max(self.timeout_s, 1.5))[0]) / 1000.0

    def fire_trigger(self) -> int:
        return int(self.command("TRIG")[0])

    def sweep_step(self, target_steps: int, settle_s: float, timeout_s: float = 30.0) -> StepResult:
        self.command("SWEEP", int(target_steps), round(settle_s * 1000))
        deadline = time.monotonic() + timeout_s
        while True:
            fields = self.command("SWR")
            if fields[0] == "DONE":
                pos, d_um, t_done, t_trig, tc = (int(x) for x in fields[1:6])
                return StepResult(
                    position=pos,
                    d_mm=d_um / 1000.0,
                    t_move_done=self._us_to_s(t_done),
                    t_trigger=self._us_to_s(t_trig),
                    trigger_count=tc,
                )
            if time.monotonic() > deadline:
                self.stop()
                raise DeviceTimeout(f"focus controller: sweep step to {target_steps} timed out")
            time.sleep(self.poll_interval_s)

    def reboot(self, timeout_s: float = 20.0) -> None:
        """Restart the controller through its watchdog, then handshake again.

        The firmware stops feeding its watchdog; the board restarts within 15 ms on hardware
        (up to its 0.5 s watchdog period in simavr), loses its homing, keeps its EEPROM.
        """
        self.command("REBOOT")
        saved = self.boot_timeout_s
        self.boot_timeout_s = max(saved, timeout_s)
        try:
            self.connect()
        finally:
            self.boot_timeout_s = saved
