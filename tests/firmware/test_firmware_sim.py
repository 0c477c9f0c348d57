"""The real firmware ELF in simavr, driven over a pty by SerialFocusController.

Pin edges come from the harness with CPU-cycle timestamps (16 MHz), so timing assertions hold
however slowly the simulator runs on a loaded machine.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import time
from pathlib import Path

import pytest
import serial

from psfbench.core.devices import DeviceDisconnected, DeviceError, DeviceTimeout, LimitError
from psfbench.core.devices.serial_controller import (
    E_NOTHOMED,
    E_SENSOR,
    FirmwareError,
    SerialFocusController,
    decode_frame,
    encode_frame,
)
from psfbench.core.devices.simavr import CPU_HZ, FIRMWARE_DIR, Edge, FirmwareSimulator

pytestmark = pytest.mark.firmware


def rising(edges: list[Edge], name: str) -> list[int]:
    return [e.cycle for e in edges if e.name == name and e.value == 1]


def new_edges(sim: FirmwareSimulator, since: int) -> list[Edge]:
    return sim.edges()[since:]


def test_move_exact_steps_dir_first_and_trapezoid(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    ctl.home()
    v, a = 2000, 20000
    ctl.set_speed(v)
    ctl.set_acceleration(a)
    for target, direction in ((400, 1), (150, 0)):
        mark = len(sim.edges())
        ctl.move_abs(target)
        assert ctl.position() == target
        edges = new_edges(sim, mark)
        steps = rising(edges, "STEP")
        n = abs(target - (0 if direction else 400))
        assert len(steps) == n  # exact, no lost or extra pulses
        # DIR holds the right level at the first step and was last changed >= 5 us before it
        dir_edges = [e for e in sim.edges() if e.name == "DIR" and e.cycle < steps[0]]
        assert dir_edges and dir_edges[-1].value == direction
        assert (steps[0] - dir_edges[-1].cycle) / CPU_HZ >= 5e-6
        assert not [e for e in edges if e.name == "DIR" and steps[0] < e.cycle <= steps[-1]]
        # STEP pulses are at least 2 us wide (driver minimum ~1.9 us)
        falls = [e.cycle for e in edges if e.name == "STEP" and e.value == 0]
        assert min(f - r for r, f in zip(steps, falls, strict=False)) / CPU_HZ >= 2e-6
        t = [(c - steps[0]) / CPU_HZ for c in steps]
        # cruise at v: 200 steps between the 100-step ramps
        cruise = [t[i + 1] - t[i] for i in range(n // 2 - 20, n // 2 + 20)]
        if n >= 2 * v * v / (2 * a) + 40:
            # the compare timer's period is exact; edges jitter only by ISR latency (UART/millis)
            assert statistics.median(cruise) == pytest.approx(1 / v, abs=0.5e-6)
            assert max(abs(dt - 1 / v) for dt in cruise) < 15e-6
        # acceleration phase follows t_k = sqrt(2k/a) (relative to the first step)
        for k in (10, 40, 80):
            ideal = math.sqrt(2 * k / a) - math.sqrt(2 / a)
            assert t[k - 1] == pytest.approx(ideal, rel=0.03)
        # whole move within 2 % of the ideal trapezoid (first step to last step)
        s_acc = v * v / (2 * a)
        ideal_total = 2 * v / a + (n - 2 * s_acc) / v - math.sqrt(2 / a)
        assert t[-1] == pytest.approx(ideal_total, rel=0.02)


def wait_steps(sim: FirmwareSimulator, total: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sim.counters()["steps"] < total and time.monotonic() < deadline:
        time.sleep(0.02)


def test_moves_refused_before_homing_and_outside_limits(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    before = sim.counters()["steps"]
    with pytest.raises(FirmwareError) as err:
        ctl.move_abs(10)
    assert err.value.code == E_NOTHOMED
    ctl.home()
    homed_steps = sim.counters()["steps"]
    assert homed_steps > before
    ctl.set_soft_limits(0, 500)
    for bad in (501, -1, 10_000):
        with pytest.raises(LimitError):
            ctl.move_abs(bad)
    with pytest.raises(LimitError):
        ctl.move_rel(-1)
    with pytest.raises(LimitError):
        ctl.set_soft_limits(5, 5)
    assert sim.counters()["steps"] == homed_steps  # refused moves emit no pulse at all
    assert ctl.position() == 0


def test_homing_origin_and_hard_limit_switch(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    ctl.home()
    c = sim.counters()
    assert c["phys"] == 1 and ctl.position() == 0  # origin: first step off the MIN switch
    ctl.set_soft_limits(0, 20_000)  # beyond the MAX switch at physical 5000
    ctl.set_speed(5000)
    ctl.set_acceleration(100_000)
    with pytest.raises(LimitError):
        ctl.move_abs(6000)
    st = ctl.status()
    assert st.limit_hit and not st.moving
    assert sim.counters()["phys"] == 5000  # stopped on the switch, not a step further
    assert ctl.position() == 4999


def test_distance_over_modbus_with_retries_and_faults(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    ctl.home()
    ctl.move_abs(120)
    assert ctl.read_distance_mm() == pytest.approx(sim.sensor_um_at(120) / 1000, abs=1e-9)
    f0 = ctl.raw_status()["sensor_failures"]
    sim.control("sensor drop 1")  # first request unanswered: the firmware retries
    assert ctl.read_distance_mm() == pytest.approx(sim.sensor_um_at(120) / 1000)
    sim.control("sensor corrupt 1")  # bad CRC: rejected, retried
    assert ctl.read_distance_mm() == pytest.approx(sim.sensor_um_at(120) / 1000)
    assert ctl.raw_status()["sensor_failures"] == f0 + 2
    sim.control("sensor exception 1")  # Modbus exception: reported, not retried
    with pytest.raises(FirmwareError) as err:
        ctl.read_distance_mm()
    assert err.value.code == E_SENSOR and err.value.word == "SENSOR_EXCEPTION"
    assert ctl.status().sensor_error
    sim.control("sensor drop 3")  # all three attempts time out
    with pytest.raises(FirmwareError) as err:
        ctl.read_distance_mm()
    assert err.value.word == "SENSOR_TIMEOUT"
    assert ctl.read_distance_mm() > 0
    assert not ctl.status().sensor_error
    c = sim.counters()
    assert c["bus_lost"] == 0 and c["reply_lost"] == 0  # DE high while sending, low to listen
    edges = sim.edges()
    de = [e for e in edges if e.name == "DE"]
    for req in (e for e in edges if e.name == "SENSOR_REQ"):
        level = [d.value for d in de if d.cycle <= req.cycle][-1]
        assert level == 1


@pytest.mark.parametrize("width_us", [20, 200, 3000])
def test_trigger_pulse_width(
    sim: FirmwareSimulator, ctl: SerialFocusController, width_us: int
) -> None:
    ctl.set_trigger_width_us(width_us)
    n0 = ctl.status().trigger_count
    mark = len(sim.edges())
    assert ctl.fire_trigger() == n0 + 1
    deadline = time.monotonic() + 30
    while True:  # wait in simulated time, however slowly the simulator runs
        edges = [e for e in new_edges(sim, mark) if e.name == "TRIG"]
        if len(edges) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert [e.value for e in edges] == [1, 0]
    width = (edges[1].cycle - edges[0].cycle) / CPU_HZ
    assert width == pytest.approx(width_us * 1e-6, abs=8e-6)


def test_synchronised_sweep_step(sim: FirmwareSimulator, ctl: SerialFocusController) -> None:
    ctl.home()
    ctl.set_trigger_width_us(100)
    mark = len(sim.edges())
    r = ctl.sweep_step(250, 0.02)
    assert r.position == 250 and ctl.position() == 250
    assert r.d_mm == pytest.approx(sim.sensor_um_at(250) / 1000)
    assert r.t_trigger - r.t_move_done >= 0.02
    edges = new_edges(sim, mark)
    steps = rising(edges, "STEP")
    assert len(steps) == 250
    req = [e.cycle for e in edges if e.name == "SENSOR_REQ"]
    trig = rising(edges, "TRIG")
    assert len(req) == 1 and len(trig) == 1
    # order on the wire: last step, settle >= 20 ms, sensor read, then the trigger
    assert (req[0] - steps[-1]) / CPU_HZ >= 0.02
    assert steps[-1] < req[0] < trig[0]
    assert not [c for c in steps if c > trig[0]]
    # firmware timestamps agree with the cycle clock (4 us micros() resolution)
    assert (r.t_trigger - r.t_move_done) == pytest.approx((trig[0] - steps[-1]) / CPU_HZ, abs=1e-4)


def test_retried_frame_never_moves_twice(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    ctl.home()
    ctl.close()
    start = sim.counters()["steps"]
    with serial.serial_for_url(sim.port, baudrate=115200, timeout=2) as port:
        frame = encode_frame("4242 MOVR 25")
        replies = []
        for _ in range(3):  # the host lost the reply and retries: same seq, same frame
            port.write(frame)
            replies.append(port.readline())
        assert replies[0] == replies[1] == replies[2]
        assert decode_frame(replies[0][:-1]) == "4242 OK 25"
        wait_steps(sim, start + 25)
        port.write(encode_frame("4243 MOVR 25"))  # a new sequence number is a new command
        assert decode_frame(port.readline()[:-1]) == "4243 OK 50"
        port.write(b"4244 MOVR 25*0000\n")  # bad CRC: refused and reported
        assert decode_frame(port.readline()[:-1]).startswith("0 ERR 1 CRC")
        wait_steps(sim, start + 50)
        port.write(encode_frame("4245 POS"))
        assert decode_frame(port.readline()[:-1]) == "4245 OK 50 0"
    assert sim.counters()["steps"] - start == 50


def test_trigger_input_counter_and_estop_pin(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    sim.control("trigin 7 400")
    time.sleep(0.1)
    deadline = time.monotonic() + 20
    while ctl.raw_status()["trigger_in_count"] < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ctl.raw_status()["trigger_in_count"] == 7
    ctl.home()
    ctl.set_speed(500)
    ctl.move_abs(300, wait=False)
    sim.control("estop 1")  # the hardware button, not the serial command
    st = ctl.status()
    assert st.estopped and not st.homed and not st.moving
    steps = sim.counters()["steps"]
    ctl.status()
    ctl.status()  # simulated time has moved on: no further pulse after the e-stop
    assert sim.counters()["steps"] == steps
    with pytest.raises(DeviceError):
        ctl.move_abs(10)


def test_reboot_keeps_steps_per_mm_and_reports_reset(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    ctl.set_steps_per_mm(123.456)
    ctl.home()
    ctl.reboot()  # watchdog reset; EEPROM survives
    assert ctl.steps_per_mm() == pytest.approx(123.456)
    reset_cause = int(ctl.command("ID")[3])
    assert reset_cause & 0x08  # WDRF: the watchdog restarted the board
    assert not ctl.status().homed


def test_unplug_replug_reconnects_and_rehomes(tmp_path: Path, firmware_build: None) -> None:
    work = tmp_path / "sim"
    first = FirmwareSimulator(workdir=work, start_pos=30, travel=5000)
    c = SerialFocusController(first.port, timeout_s=0.3, retries=2)
    try:
        c.connect()
        c.home()
        c.move_abs(50)
        first.close()  # unplugged
        with pytest.raises((DeviceDisconnected, DeviceTimeout)):
            c.position()
        with FirmwareSimulator(workdir=work, start_pos=80, travel=5000) as second:  # replugged
            c.reconnect(rehome=True)
            assert c.status().homed and c.position() == 0
            assert second.counters()["phys"] == 1
    finally:
        c.close()
        if first.alive:
            first.close()


def test_uno_build_fits_and_boots(firmware_build: None, tmp_path: Path) -> None:
    elf = FIRMWARE_DIR / "build" / "uno" / "focus_controller.elf"
    out = subprocess.run(["avr-size", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = (int(x) for x in out.stdout.splitlines()[1].split()[:3])
    assert text + data < 32256  # flash minus the Optiboot bootloader
    assert data + bss < 1600  # leaves >= 448 bytes of the 2 KiB SRAM for the stack
    assert (FIRMWARE_DIR / "build" / "mega" / "focus_controller.hex").exists()
    with FirmwareSimulator(elf=elf, mcu="atmega328p", workdir=tmp_path / "uno") as sim:
        c = SerialFocusController(sim.port)
        c.connect()
        assert c.board == "uno" and c.identify().firmware_version == "1.0.0"
        c.close()


def test_board_reset_while_connected_is_detected(
    sim: FirmwareSimulator, ctl: SerialFocusController
) -> None:
    """Like a DTR reset behind the driver's back: the boot banner flags the lost reference."""
    ctl.home()
    resets = ctl.link_stats.resets
    ctl.command("REBOOT")  # raw: the driver is not told a reset is coming
    ctl.timeout_s = 3.0  # the simulated watchdog needs up to 0.5 s of simulated time
    st = ctl.status()  # retried across the reset, answered by the restarted firmware
    assert ctl.reset_detected and ctl.link_stats.resets == resets + 1
    assert not st.homed and st.position == 0
    with pytest.raises(FirmwareError) as err:
        ctl.move_abs(10)
    assert err.value.code == E_NOTHOMED
    ctl.reconnect(rehome=True)
    assert ctl.status().homed and not ctl.reset_detected


def test_board_that_resets_when_the_port_opens(tmp_path: Path, firmware_build: None) -> None:
    """DTR auto-reset (Uno/Mega on USB): the handshake rides through the bootloader window."""
    with FirmwareSimulator(workdir=tmp_path / "dtr", start_pos=30, dtr_reset_ms=300) as sim:
        c = SerialFocusController(sim.port, timeout_s=0.5, boot_timeout_s=30)
        c.connect()
        assert c.board == "mega" and c.link_stats.resets >= 1
        c.home()
        first = sim.counters()
        assert first["dtr_resets"] == 1
        c.close()
        time.sleep(0.2)  # the harness notices a closed port by polling (every 250 us simulated)
        c.connect()  # reopening resets the board again: the reference is gone
        assert sim.counters()["dtr_resets"] == 2
        assert not c.status().homed
        c.close()
