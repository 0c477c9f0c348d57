"""FocusController contract: implementations subclass this and provide ``controller``.

The fixture yields a *connected* controller. Class attributes describe the bench so the same
tests suit a fast simulator and a real-time firmware simulator: keep moves small there.
"""

from __future__ import annotations

import pytest

from psfbench.core.devices import (
    ControllerInfo,
    ControllerStatus,
    DeviceError,
    FocusController,
    LimitError,
    StepResult,
)


class FocusControllerContract:
    #: a safe span of positions inside the default soft limits
    move_span: tuple[int, int] = (100, 300)
    timeout_s: float = 30.0

    @pytest.fixture
    def controller(self) -> FocusController:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_a_focus_controller(self, controller: FocusController) -> None:
        assert isinstance(controller, FocusController)
        assert controller.is_connected
        info = controller.identify()
        assert isinstance(info, ControllerInfo) and info.firmware_version
        assert controller.version() == info.firmware_version

    def test_refuses_moves_until_homed(self, controller: FocusController) -> None:
        st = controller.status()
        assert isinstance(st, ControllerStatus)
        if not st.homed:
            with pytest.raises(DeviceError):
                controller.move_abs(self.move_span[0], timeout_s=self.timeout_s)
        controller.home(timeout_s=self.timeout_s)
        st = controller.status()
        assert st.homed and not st.moving and controller.position() == 0

    def test_move_abs_and_rel(self, controller: FocusController) -> None:
        controller.home(timeout_s=self.timeout_s)
        a, b = self.move_span
        controller.move_abs(a, timeout_s=self.timeout_s)
        assert controller.position() == a
        controller.move_rel(b - a, timeout_s=self.timeout_s)
        assert controller.position() == b
        assert controller.status().position == b

    def test_soft_limits(self, controller: FocusController) -> None:
        controller.home(timeout_s=self.timeout_s)
        a, b = self.move_span
        controller.set_soft_limits(0, b)
        assert controller.soft_limits() == (0, b)
        with pytest.raises(LimitError):
            controller.move_abs(b + 1, timeout_s=self.timeout_s)
        with pytest.raises(LimitError):
            controller.move_abs(-1, timeout_s=self.timeout_s)
        assert controller.position() == 0
        with pytest.raises(LimitError):
            controller.set_soft_limits(10, 5)

    def test_speed_and_acceleration(self, controller: FocusController) -> None:
        controller.set_speed(1000.0)
        controller.set_acceleration(5000.0)
        assert controller.speed() == pytest.approx(1000.0)
        assert controller.acceleration() == pytest.approx(5000.0)
        with pytest.raises(LimitError):
            controller.set_speed(-1.0)

    def test_non_blocking_move_and_stop(self, controller: FocusController) -> None:
        controller.home(timeout_s=self.timeout_s)
        controller.set_speed(500.0)
        a, b = self.move_span
        controller.move_abs(b, wait=False)
        assert controller.status().moving
        controller.stop()
        controller.wait_idle(timeout_s=self.timeout_s)
        st = controller.status()
        assert not st.moving and st.homed
        assert 0 <= st.position <= b

    def test_trigger_and_distance(self, controller: FocusController) -> None:
        n0 = controller.status().trigger_count
        assert controller.fire_trigger() == n0 + 1
        assert controller.status().trigger_count == n0 + 1
        d = controller.read_distance_mm()
        assert isinstance(d, float) and d > 0

    def test_sweep_step_is_synchronised(self, controller: FocusController) -> None:
        controller.home(timeout_s=self.timeout_s)
        a, b = self.move_span
        n0 = controller.status().trigger_count
        results = [controller.sweep_step(t, 0.05, timeout_s=self.timeout_s) for t in (a, b)]
        for r, target, k in zip(results, (a, b), (1, 2), strict=True):
            assert isinstance(r, StepResult)
            assert r.position == target
            assert r.t_trigger - r.t_move_done >= 0.05 - 1e-6
            assert r.trigger_count == n0 + k
            assert r.d_mm > 0
        assert results[1].t_move_done > results[0].t_trigger

    def test_estop_requires_rehoming(self, controller: FocusController) -> None:
        controller.home(timeout_s=self.timeout_s)
        controller.set_speed(500.0)
        controller.move_abs(self.move_span[1], wait=False)
        controller.estop()
        st = controller.status()
        assert not st.moving and not st.homed
        with pytest.raises(DeviceError):
            controller.move_abs(self.move_span[0], timeout_s=self.timeout_s)
        controller.home(timeout_s=self.timeout_s)
        controller.move_abs(self.move_span[0], timeout_s=self.timeout_s)
        assert controller.position() == self.move_span[0]

    def test_close(self, controller: FocusController) -> None:
        controller.close()
        assert not controller.is_connected
        with pytest.raises(DeviceError):
            controller.position()
