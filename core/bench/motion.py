"""Stepper motion as piecewise constant-acceleration segments, evaluated analytically.

The simulated controller never runs a physics thread: a move is a trajectory in simulated
time, and position/velocity are computed on demand. That keeps the timing exact under any time
scale and makes stop/e-stop a matter of truncating the trajectory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    t0: float
    t1: float
    p0: float
    v0: float
    a: float

    def position(self, t: float) -> float:
        dt = min(max(t, self.t0), self.t1) - self.t0
        return self.p0 + self.v0 * dt + 0.5 * self.a * dt * dt

    def velocity(self, t: float) -> float:
        dt = min(max(t, self.t0), self.t1) - self.t0
        return self.v0 + self.a * dt


class Trajectory:
    """A motion starting at rest at ``p0`` at time ``t0`` (empty: standing still)."""

    def __init__(self, t0: float, p0: float, segments: list[Segment] | None = None) -> None:
        self.t0 = t0
        self.p0 = p0
        self.segments = segments or []

    @property
    def t_end(self) -> float:
        return self.segments[-1].t1 if self.segments else self.t0

    @property
    def p_end(self) -> float:
        return self.segments[-1].position(self.segments[-1].t1) if self.segments else self.p0

    def position(self, t: float) -> float:
        if not self.segments or t <= self.t0:
            return self.p0
        for seg in self.segments:
            if t <= seg.t1:
                return seg.position(t)
        return self.p_end

    def velocity(self, t: float) -> float:
        for seg in self.segments:
            if seg.t0 <= t < seg.t1:
                return seg.velocity(t)
        return 0.0

    def moving(self, t: float) -> bool:
        return bool(self.segments) and t < self.t_end


def trapezoid(t0: float, p0: float, p1: float, v_max: float, accel: float) -> Trajectory:
    """Rest-to-rest move with a trapezoidal (or triangular, for short moves) velocity profile."""
    if v_max <= 0 or accel <= 0:
        raise ValueError("speed and acceleration must be positive")
    dist = abs(p1 - p0)
    if dist == 0:
        return Trajectory(t0, p0)
    s = 1.0 if p1 > p0 else -1.0
    t_acc = v_max / accel
    d_acc = 0.5 * accel * t_acc * t_acc
    if 2 * d_acc >= dist:  # triangular: never reaches cruise speed
        t_acc = math.sqrt(dist / accel)
        v_peak = accel * t_acc
        t_cruise = 0.0
    else:
        v_peak = v_max
        t_cruise = (dist - 2 * d_acc) / v_max
    segs: list[Segment] = []
    t = t0
    segs.append(Segment(t, t + t_acc, p0, 0.0, s * accel))
    t += t_acc
    p = segs[-1].position(t)
    if t_cruise > 0:
        segs.append(Segment(t, t + t_cruise, p, s * v_peak, 0.0))
        t += t_cruise
        p = segs[-1].position(t)
    segs.append(Segment(t, t + t_acc, p, s * v_peak, -s * accel))
    # Pin the end exactly on the target despite rounding.
    last = segs[-1]
    segs[-1] = Segment(
        last.t0, last.t1, p1 - (s * v_peak * t_acc - 0.5 * s * accel * t_acc**2), last.v0, last.a
    )
    return Trajectory(t0, p0, segs)


def move_duration(distance: float, v_max: float, accel: float) -> float:
    """Duration of a rest-to-rest trapezoidal move (the model tests and docs quote)."""
    return trapezoid(0.0, 0.0, abs(distance), v_max, accel).t_end


def decelerate(traj: Trajectory, t: float, accel: float) -> Trajectory:
    """The trajectory cut at ``t`` and followed by a controlled stop at ``accel``."""
    p = traj.position(t)
    v = traj.velocity(t)
    if v == 0.0:
        return Trajectory(t, p)
    t_stop = abs(v) / accel
    seg = Segment(t, t + t_stop, p, v, -math.copysign(accel, v))
    return Trajectory(t, p, [seg])


def backlash(lens: float, motor: float, play: float) -> float:
    """Play operator: the driven ring moves only once the motor has taken up the slack."""
    half = play / 2.0
    return min(max(lens, motor - half), motor + half)
