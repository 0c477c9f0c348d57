"""Simulated focus controller: the virtual bench's stepper drive, sensor port and trigger line.

Behaves like the firmware is specified to (docs/devices.md): trapezoidal moves at the set speed
and acceleration, soft limits, a counter that means nothing until homed (the motor powers up
at an unknown physical position), a controlled stop, and an e-stop that invalidates homing.
Durations follow the motion model in simulated time, so time-scaled tests still measure
physical durations in the returned timestamps.
"""

from __future__ import annotations

import threading

from psfbench.core.bench.motion import Trajectory, decelerate, trapezoid
from psfbench.core.bench.world import BenchWorld
from psfbench.core.devices.protocols import (
    ControllerInfo,
    ControllerStatus,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    LimitError,
    StepResult,
)

FIRMWARE_VERSION = "sim-1.0"


class SimFocusController:
    """Virtual controller implementing :class:`psfbench.core.devices.protocols.FocusController`."""

    def __init__(self, world: BenchWorld) -> None:
        self.world = world
        s = world.settings
        self._connected = False
        self._homed = False
        self._estopped = False
        self._offset = float(s.power_on_position_steps)  # physical = counter + offset
        self._limits = (0, s.travel_steps)
        self._speed = s.speed_steps_per_s
        self._accel = s.accel_steps_per_s2
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- connection

    def connect(self) -> None:
        if self.world.faults.controller_disconnected:
            raise DeviceDisconnected("virtual focus controller: port not found")
        self._connected = True

    def close(self) -> None:
        if self._connected and self._moving():
            self.stop()
        self._connected = False

    def __enter__(self) -> SimFocusController:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _check(self) -> None:
        if self.world.faults.controller_disconnected:
            self._connected = False
            raise DeviceDisconnected("virtual focus controller: port vanished")
        if not self._connected:
            raise DeviceError("virtual focus controller is not connected")

    def identify(self) -> ControllerInfo:
        self._check()
        return ControllerInfo(
            name="psfbench virtual focus controller",
            firmware_version=FIRMWARE_VERSION,
            protocol_version=1,
            serial="VIRTUAL",
        )

    def version(self) -> str:
        return self.identify().firmware_version

    # ---------------------------------------------------------------- motion

    def _now(self) -> float:
        return self.world.clock.now()

    def _moving(self) -> bool:
        return self.world.trajectory.moving(self._now())

    def _wait_until(self, t_end: float, timeout_s: float) -> None:
        clock = self.world.clock
        wall_needed = clock.to_wall(t_end - clock.now())
        if wall_needed > timeout_s:
            clock.sleep(timeout_s / clock.time_scale)
            raise DeviceTimeout(f"virtual focus controller: move not finished within {timeout_s} s")
        clock.sleep_until(t_end)

    def _start_move(self, target_counter: int) -> Trajectory:
        if self._estopped:
            raise DeviceError("virtual focus controller: e-stop latched; home() before moving")
        if not self._homed:
            raise DeviceError("virtual focus controller: not homed; call home() first")
        lo, hi = self._limits
        if not lo <= target_counter <= hi:
            raise LimitError(
                f"virtual focus controller: target {target_counter} outside soft limits "
                f"[{lo}, {hi}]"
            )
        with self._lock:
            if self._moving():
                raise DeviceError("virtual focus controller: busy (a move is in progress)")
            t = self._now()
            p0 = self.world.motor_steps(t)
            traj = trapezoid(t, p0, target_counter + self._offset, self._speed, self._accel)
            self.world.set_trajectory(traj)
            return traj

    def home(self, timeout_s: float = 60.0) -> None:
        self._check()
        with self._lock:
            t = self._now()
            if self._moving():
                self.world.set_trajectory(decelerate(self.world.trajectory, t, self._accel))
                t = self.world.trajectory.t_end
            p0 = self.world.trajectory.position(t)
            traj = trapezoid(t, p0, 0.0, self.world.settings.homing_speed_steps_per_s, self._accel)
            self.world.set_trajectory(traj)
        self._wait_until(traj.t_end, timeout_s)
        with self._lock:
            self._offset = 0.0
            self._homed = True
            self._estopped = False

    def move_abs(self, target_steps: int, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        self._check()
        traj = self._start_move(int(target_steps))
        if wait:
            self._wait_until(traj.t_end, timeout_s)

    def move_rel(self, delta_steps: int, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        self._check()
        self.move_abs(self.position() + int(delta_steps), wait=wait, timeout_s=timeout_s)

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        self._check()
        self._wait_until(self.world.trajectory.t_end, timeout_s)

    def position(self) -> int:
        self._check()
        return round(self.world.motor_steps() - self._offset)

    def soft_limits(self) -> tuple[int, int]:
        return self._limits

    def set_soft_limits(self, low: int, high: int) -> None:
        travel = self.world.settings.travel_steps
        if not 0 <= low < high <= travel:
            raise LimitError(
                f"virtual focus controller: soft limits [{low}, {high}] must satisfy "
                f"0 <= low < high <= travel ({travel} steps)"
            )
        self._limits = (int(low), int(high))

    def speed(self) -> float:
        return self._speed

    def set_speed(self, steps_per_s: float) -> None:
        if not 0 < steps_per_s <= 50_000:
            raise LimitError(f"virtual focus controller: speed {steps_per_s} steps/s out of range")
        self._speed = float(steps_per_s)

    def acceleration(self) -> float:
        return self._accel

    def set_acceleration(self, steps_per_s2: float) -> None:
        if not 0 < steps_per_s2 <= 1_000_000:
            raise LimitError(
                f"virtual focus controller: acceleration {steps_per_s2} steps/s^2 out of range"
            )
        self._accel = float(steps_per_s2)

    # ---------------------------------------------------------------- sensor and trigger

    def read_distance_mm(self) -> float:
        self._check()
        return self.world.read_sensor_mm()

    def fire_trigger(self) -> int:
        self._check()
        count, _ = self.world.fire_trigger()
        return count

    def sweep_step(self, target_steps: int, settle_s: float, timeout_s: float = 30.0) -> StepResult:
        self._check()
        if settle_s < 0:
            raise LimitError("settle time must be >= 0")
        traj = self._start_move(int(target_steps))
        self._wait_until(traj.t_end, timeout_s)
        t_done = traj.t_end
        self.world.clock.sleep_until(t_done + settle_s)
        d = self.read_distance_mm()
        count, t_trig = self.world.fire_trigger()
        return StepResult(
            position=self.position(),
            d_mm=d,
            t_move_done=t_done,
            t_trigger=t_trig,
            trigger_count=count,
        )

    def stop(self) -> None:
        self._check()
        with self._lock:
            t = self._now()
            self.world.set_trajectory(decelerate(self.world.trajectory, t, self._accel))

    def estop(self) -> None:
        # Deliberately no _check(): an e-stop must never be refused by the host side.
        with self._lock:
            t = self._now()
            self.world.set_trajectory(Trajectory(t, round(self.world.motor_steps(t))))
            self._estopped = True
            self._homed = False

    def status(self) -> ControllerStatus:
        self._check()
        t = self._now()
        phys = self.world.motor_steps(t)
        return ControllerStatus(
            moving=self.world.trajectory.moving(t),
            homed=self._homed,
            limit_hit=phys < 0 or phys > self.world.settings.travel_steps,
            sensor_error=self.world.faults.sensor_error,
            trigger_count=self.world.trigger_count,
            position=round(phys - self._offset),
            estopped=self._estopped,
        )
