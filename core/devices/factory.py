"""``open_bench``: turn a device profile into opened, configured devices.

The acquisition engine, the CLI and the GUI all start here, so a virtual bench and a real one
come up the same way and differ only in the profile file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psfbench.core.config.profiles import ConfigError, Profile, load_profile
from psfbench.core.devices.protocols import (
    Camera,
    DeviceError,
    DistanceSensor,
    FocusController,
    Projector,
    Roi,
)


@dataclass
class BenchInfo:
    profile: str
    source: str
    kind: str  # "virtual" | "real" | "mixed"
    settings: Profile
    world: Any = None  # the BenchWorld of a virtual bench (ground truth; never for fitting)
    suggested_sweep_steps: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Bench:
    camera: Camera
    focus: FocusController
    projector: Projector | None
    sensor: DistanceSensor | None
    info: BenchInfo

    def close(self) -> None:
        """Close everything, stopping the motor first; errors do not stop the rest closing."""
        errors: list[str] = []
        for closer in (self.focus.close, self.camera.close):
            try:
                closer()
            except Exception as exc:
                errors.append(str(exc))
        if self.projector is not None:
            try:
                self.projector.blank()
            except Exception as exc:
                errors.append(str(exc))
        if errors:
            raise DeviceError("closing the bench: " + "; ".join(errors))

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def snapshot(self) -> dict[str, Any]:
        """Device state for frame/session metadata (what a reader needs to trust a frame)."""
        cam = self.camera
        snap: dict[str, Any] = {
            "profile": self.info.profile,
            "camera": {
                "model": cam.info.model,
                "serial": cam.info.serial,
                "exposure_us": cam.exposure_us,
                "gain_db": cam.gain_db,
                "pixel_format": cam.pixel_format,
                "trigger_mode": cam.trigger_mode,
                "roi": list(vars(cam.roi).values()),
            },
        }
        st = self.focus.status()
        snap["focus"] = {
            "position": st.position,
            "homed": st.homed,
            "moving": st.moving,
            "trigger_count": st.trigger_count,
            "soft_limits": list(self.focus.soft_limits()),
            "speed_steps_per_s": self.focus.speed(),
            "accel_steps_per_s2": self.focus.acceleration(),
        }
        return snap


class ControllerDistanceSensor:
    """The distance sensor read through the focus controller's sensor port."""

    def __init__(self, focus: FocusController) -> None:
        self.focus = focus

    def read_mm(self) -> float:
        return self.focus.read_distance_mm()


def _open_camera(p: Profile, world: Any) -> Camera:
    c = p.camera
    cam: Camera
    if c.driver == "virtual":
        from psfbench.core.bench.camera import SimCamera

        cam = SimCamera(world, serial=c.serial or "VIRTUAL-0001")
    else:
        from psfbench.core.devices.basler import BaslerCamera, enable_emulation

        if c.emulated:
            enable_emulation(c.emulated)
        cam = BaslerCamera(c.serial, hardware_trigger_line=c.hardware_trigger_line)
    cam.open()
    try:
        cam.pixel_format = c.pixel_format
        cam.exposure_us = c.exposure_us
        cam.gain_db = c.gain_db
        cam.trigger_mode = c.trigger_mode
        if c.roi is not None:
            cam.roi = Roi(*c.roi)
    except Exception:
        cam.close()
        raise
    return cam


def _open_focus(p: Profile, world: Any) -> FocusController:
    f = p.focus
    ctl: FocusController
    if f.driver == "virtual":
        from psfbench.core.bench.controller import SimFocusController

        ctl = SimFocusController(world)
    else:
        import importlib

        try:
            module = importlib.import_module("psfbench.core.devices.serial_controller")
            SerialFocusController = module.SerialFocusController
        except (ImportError, AttributeError) as exc:
            raise DeviceError(
                "the serial focus controller driver (core/devices/serial_controller.py) "
                f"is not available: {exc}"
            ) from exc
        ctl = SerialFocusController(f.port, baud=f.baud, timeout_s=f.timeout_s)
    ctl.connect()
    try:
        if f.soft_limits is not None:
            ctl.set_soft_limits(*f.soft_limits)
        if f.speed_steps_per_s is not None:
            ctl.set_speed(f.speed_steps_per_s)
        if f.accel_steps_per_s2 is not None:
            ctl.set_acceleration(f.accel_steps_per_s2)
    except Exception:
        ctl.close()
        raise
    return ctl


def virtual_settings(base: Any, overrides: Mapping[str, Any], source: str = "") -> Any:
    """``base`` (VirtualBenchSettings) with ``overrides`` applied and validated. Raises
    :class:`ConfigError` naming each bad key (with the close matches among the valid ones, or
    the list of them) and each bad value with the reason."""
    import difflib

    from pydantic import ValidationError

    from psfbench.core.bench.settings import VirtualBenchSettings

    fields = sorted(VirtualBenchSettings.model_fields)
    where = f"{source}: " if source else ""
    unknown = [k for k in overrides if k not in VirtualBenchSettings.model_fields]
    if unknown:
        parts = []
        for k in unknown:
            close = difflib.get_close_matches(k, fields, n=3, cutoff=0.6)
            parts.append(f"{k!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ConfigError(
            f"{where}unknown virtual bench setting {', '.join(parts)}; the settings are: "
            + ", ".join(fields)
        )
    try:
        return VirtualBenchSettings(**(base.model_dump() | dict(overrides)))
    except ValidationError as exc:
        msgs = [
            f"{'.'.join(str(x) for x in e['loc'])} = {e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError(f"{where}invalid virtual bench setting: {'; '.join(msgs)}") from None


def open_bench(
    profile: str | Path | Profile = "virtual", *, virtual_overrides: dict[str, Any] | None = None
) -> Bench:
    """Open every device a profile names: a built-in name, a profile name, or a TOML path.

    ``virtual_overrides`` replaces fields of the profile's virtual-world settings (tests use
    a small image and a fast time scale). Raises :class:`ConfigError` for a bad profile and
    :class:`DeviceError` (naming the device) when a device cannot be opened.
    """
    if isinstance(profile, Profile):
        prof, source = profile, "in-memory"
    else:
        prof, source = load_profile(profile)
    if virtual_overrides:
        prof = prof.model_copy(
            update={"virtual": virtual_settings(prof.virtual, virtual_overrides, source)}
        )
    world: Any = None
    kinds = {prof.camera.driver, prof.focus.driver}
    if prof.is_virtual:
        from psfbench.core.bench.world import BenchWorld

        world = BenchWorld(prof.virtual)
    camera = _open_camera(prof, world)
    try:
        focus = _open_focus(prof, world)
    except Exception:
        camera.close()
        raise
    projector: Projector | None = None
    notes: list[str] = []
    if prof.projector.driver == "virtual":
        from psfbench.core.bench.projector import SimProjector

        projector = SimProjector(world)
    elif prof.projector.driver == "screen":
        notes.append(
            f"projector: a full-screen window on screen {prof.projector.screen} is opened by "
            "the GUI (core has no window system)"
        )
    sensor: DistanceSensor | None = None
    if prof.sensor.driver == "virtual":
        from psfbench.core.bench.projector import SimDistanceSensor

        sensor = SimDistanceSensor(world)
    elif prof.sensor.driver == "controller":
        sensor = ControllerDistanceSensor(focus)
    kind = "virtual" if kinds == {"virtual"} else "real" if "virtual" not in kinds else "mixed"
    info = BenchInfo(
        profile=prof.name,
        source=source,
        kind=kind,
        settings=prof,
        world=world,
        suggested_sweep_steps=world.suggested_sweep_steps() if world is not None else None,
        notes=notes,
    )
    return Bench(camera=camera, focus=focus, projector=projector, sensor=sensor, info=info)
