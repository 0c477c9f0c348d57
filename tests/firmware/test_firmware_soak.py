"""Soak: >= 1000 driver commands while the harness corrupts and drops bytes both ways.

The harness records exactly which bytes reached each side, so the test can audit every damaged
line: the firmware must report each one it received (its bad-frame counter), the driver must
reject each one it received (``link_stats.bad_replies``), no damaged line may pass a CRC check,
and the axis must end exactly where the commands put it (no lost, repeated or spurious move).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from psfbench.core.devices.serial_controller import MAX_REQUEST, SerialFocusController, decode_frame
from psfbench.core.devices.simavr import FirmwareSimulator

pytestmark = [pytest.mark.firmware, pytest.mark.slow]

N_COMMANDS = 1000
P_FAULT = 0.01  # per byte, each direction: about one frame in four is damaged


def audit_lines(delivered: bytes, original: bytes, max_len: int, strip_cr: bool) -> int:
    """Damaged lines among those delivered; asserts none of them would pass the CRC check."""
    sent = set(original.split(b"\n"))
    *lines, tail = delivered.split(b"\n")
    damaged = 0
    for line in lines:
        if strip_cr and line.endswith(b"\r"):
            line = line[:-1]
        if not line or line in sent:
            continue
        damaged += 1
        assert decode_frame(line, max_len) is None, f"undetected corruption: {line!r}"
    # an unterminated fragment merges with the next (clean) line and spoils it: one more
    return damaged + (1 if tail else 0)


def test_soak_with_injected_byte_errors(sim: FirmwareSimulator, tmp_path: Path) -> None:
    ctl = SerialFocusController(sim.port, timeout_s=0.25, retries=60)
    ctl.connect()
    ctl.home()
    ctl.set_speed(5000)
    ctl.set_acceleration(200_000)
    ctl.set_soft_limits(0, 600)
    ctl.set_trigger_width_us(20)
    start = ctl.raw_status()
    steps0 = sim.counters()["steps"]
    audit = tmp_path / "audit"
    audit.mkdir()
    sim.control(f"audit {audit}")
    sim.control(f"faults {P_FAULT} {P_FAULT} 20241123")
    req0 = ctl.link_stats.requests
    bad0 = ctl.link_stats.bad_replies

    rng = random.Random(5)
    pos, steps, triggers, speed = 0, 0, 0, 5000
    while ctl.link_stats.requests - req0 < N_COMMANDS:
        r = rng.random()
        if r < 0.2:
            delta = rng.randint(-12, 12)
            delta = max(-pos, min(600 - pos, delta))
            ctl.move_rel(delta, timeout_s=30)
            pos += delta
            steps += abs(delta)
        elif r < 0.45:
            assert ctl.position() == pos
        elif r < 0.6:
            st = ctl.status()
            assert st.position == pos and st.homed and not st.moving and not st.estopped
        elif r < 0.7:
            triggers += 1
            assert ctl.fire_trigger() == start["trigger_count"] + triggers
        elif r < 0.8:
            speed = rng.choice((3000, 4000, 5000))
            ctl.set_speed(speed)
            assert ctl.speed() == speed
        elif r < 0.85:
            assert ctl.soft_limits() == (0, 600)
        elif r < 0.9:
            assert ctl.read_distance_mm() == pytest.approx(sim.sensor_um_at(pos) / 1000)
        else:
            assert ctl.identify().firmware_version == "1.0.0"
    sim.control("faults off")  # closes the audit streams; the link is clean from here on

    end = ctl.raw_status()
    counters = sim.counters()
    assert ctl.position() == pos
    assert counters["steps"] - steps0 == steps  # zero wrong moves: every step accounted for
    assert counters["phys"] == pos + 1
    assert end["trigger_count"] - start["trigger_count"] == triggers
    assert counters["faults_in"] > 50 and counters["faults_out"] > 50

    to_fw = audit_lines(
        (audit / "to_fw.delivered").read_bytes(),
        (audit / "to_fw.original").read_bytes(),
        MAX_REQUEST,
        strip_cr=True,
    )
    to_host = audit_lines(
        (audit / "to_host.delivered").read_bytes(),
        (audit / "to_host.original").read_bytes(),
        10_000,
        strip_cr=False,
    )
    ctl.position()  # drain anything still in flight before reading the driver's counters
    assert end["bad_frames"] - start["bad_frames"] == to_fw  # every damaged request reported
    assert ctl.link_stats.bad_replies - bad0 == to_host  # every damaged reply rejected
    print(
        f"soak: {ctl.link_stats.requests - req0} commands, {counters['faults_in']} faults to "
        f"firmware, {counters['faults_out']} to host, {to_fw} damaged requests reported, "
        f"{to_host} damaged replies rejected, {ctl.link_stats.timeouts} timeouts, "
        f"{steps} steps exact"
    )
    ctl.close()
