"""Profile schema, lookup and loading, with errors that name the file and the field.

A technician edits these files by hand, so every mistake must come back as
``<file>: <section.field>: <what is wrong>`` rather than a traceback.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from psfbench.core.bench.settings import VirtualBenchSettings

BUILTIN = "virtual"


class ConfigError(ValueError):
    """A profile file is missing, unreadable or invalid; the message names file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraProfile(_Strict):
    driver: Literal["virtual", "basler"] = "virtual"
    serial: str | None = None
    pixel_format: Literal["Mono8", "Mono12", "Mono16", "RGB8"] = "Mono12"
    exposure_us: float = Field(default=10_000.0, gt=0.0)
    gain_db: float = Field(default=0.0, ge=0.0)
    trigger_mode: Literal["software", "hardware", "free-run"] = "software"
    roi: tuple[int, int, int, int] | None = None
    buffer_count: int = Field(default=16, ge=1, le=1024)
    hardware_trigger_line: str = "Line1"
    #: >0: use pylon's camera emulation with this many cameras (tests, demos, CI)
    emulated: int = Field(default=0, ge=0, le=16)


class FocusProfile(_Strict):
    driver: Literal["virtual", "serial"] = "virtual"
    port: str | None = None
    baud: int = Field(default=115200, gt=0)
    timeout_s: float = Field(default=2.0, gt=0.0)
    steps_per_mm: float = Field(default=400.0, gt=0.0)
    soft_limits: tuple[int, int] | None = None
    speed_steps_per_s: float | None = Field(default=None, gt=0.0)
    accel_steps_per_s2: float | None = Field(default=None, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> FocusProfile:
        if self.driver == "serial" and not self.port:
            raise ValueError("port: required for the serial driver (e.g. '/dev/ttyACM0', 'COM3')")
        if self.soft_limits is not None and self.soft_limits[0] >= self.soft_limits[1]:
            raise ValueError("soft_limits: low must be below high")
        return self


class SensorProfile(_Strict):
    #: ``controller``: the distance sensor is read through the focus controller (RS-485 port)
    driver: Literal["virtual", "controller", "none"] = "virtual"


class ProjectorProfile(_Strict):
    #: ``screen``: a full-screen window the GUI opens on monitor ``screen``
    driver: Literal["virtual", "screen", "none"] = "virtual"
    screen: int = Field(default=1, ge=0)
    width: int | None = Field(default=None, ge=1)
    height: int | None = Field(default=None, ge=1)


#: Nominal lens offset e (mm) assumed for the virtual bench when its profile sets none: the
#: paper's value for its lens. This is a *nominal* value for displays (focus depth Df), not the
#: virtual world's hidden truth (``virtual.true_e_mm``), which nothing but a fit check may read.
VIRTUAL_NOMINAL_E_MM = 23.6


class LensProfile(_Strict):
    """The lens as the operator knows it (nominal values, for displays such as Df = f(d)).

    Both optional: a real bench may not know them yet; the GUI then shows Df as unknown.
    A fit estimates e itself and never reads ``nominal_e_mm``.
    """

    focal_length_mm: float | None = Field(default=None, gt=0.0)
    #: nominal mechanical offset e between the distance sensor's zero and the lens (mm)
    nominal_e_mm: float | None = None
    #: f-number N as set on the lens, recorded in sessions (the fit's datasheet A, eq. 6)
    f_number: float | None = Field(default=None, gt=0.0)


class Profile(_Strict):
    name: str = BUILTIN
    description: str = ""
    camera: CameraProfile = CameraProfile()
    focus: FocusProfile = FocusProfile()
    sensor: SensorProfile = SensorProfile()
    projector: ProjectorProfile = ProjectorProfile()
    lens: LensProfile = LensProfile()
    virtual: VirtualBenchSettings = VirtualBenchSettings()

    @property
    def is_virtual(self) -> bool:
        return "virtual" in (self.camera.driver, self.focus.driver, self.projector.driver) or (
            self.sensor.driver == "virtual"
        )

    def nominal_lens(self) -> tuple[float | None, float | None]:
        """(F, e) in mm for displays: the ``[lens]`` section's values. Where one is unset and
        d comes from the virtual world (virtual focus drive or sensor): the virtual lens's
        ``F_mm`` and the paper's nominal e = 23.6 mm (:data:`VIRTUAL_NOMINAL_E_MM`, never the
        hidden ``true_e_mm``). Otherwise None (unknown).
        """
        f, e = self.lens.focal_length_mm, self.lens.nominal_e_mm
        if "virtual" in (self.focus.driver, self.sensor.driver):
            f = self.virtual.F_mm if f is None else f
            e = VIRTUAL_NOMINAL_E_MM if e is None else e
        return f, e


EXAMPLE_REAL_TOML = """\
# psfbench device profile for the real bench: copy to <config dir>/real.toml and edit.
# `psfbench` looks profiles up by name in the config directory (PSFBENCH_CONFIG_DIR overrides).
name = "real"
description = "Basler ace + Arduino focus drive + RS-485 distance sensor + projector on screen 1"

[camera]
driver = "basler"
serial = "40123456"        # omit to take the first Basler camera found
pixel_format = "Mono12"    # Mono8 | Mono12 | Mono16 | RGB8 (12-bit data arrives in uint16)
exposure_us = 20000.0
gain_db = 0.0
trigger_mode = "hardware"  # the controller's trigger output drives the camera's Line1
hardware_trigger_line = "Line1"
buffer_count = 16
# roi = [0, 0, 2448, 2048]  # x, y, width, height; omit for the full sensor

[focus]
driver = "serial"
port = "/dev/ttyACM0"      # COM3 on Windows
baud = 115200
timeout_s = 2.0
steps_per_mm = 400.0       # lead screw / gearing of the focus-ring drive
soft_limits = [0, 4800]    # steps from the home switch
speed_steps_per_s = 4000.0
accel_steps_per_s2 = 20000.0

[sensor]
driver = "controller"      # the RS-485 distance sensor hangs off the controller

[projector]
driver = "screen"          # a full-screen window opened by the GUI
screen = 1
width = 1920
height = 1080

[lens]                     # nominal values, for displays (focus depth Df from d); optional
focal_length_mm = 50.0     # F; omit if unknown (the GUI then shows Df as unknown)
nominal_e_mm = 23.6        # e: lens-to-sensor distance v = d + e; a fit estimates its own e
f_number = 1.4             # N as set on the lens; the fit compares its A with the datasheet's
"""


def config_dir() -> Path:
    """Where profiles live: $PSFBENCH_CONFIG_DIR, else the platform's user config dir."""
    env = os.environ.get("PSFBENCH_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("psfbench", appauthor=False))


def available_profiles() -> list[str]:
    """Built-in profile names plus every ``*.toml`` in the config directory."""
    names = {BUILTIN}
    d = config_dir()
    if d.is_dir():
        names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def _format_validation(path: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        lines.append(f"{path}: {loc}: {msg}{shown}")
    return "invalid device profile:\n  " + "\n  ".join(lines)


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation(source, exc)) from None


def load_profile_file(path: str | Path) -> Profile:
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: device profile not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read device profile: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text (is this a TOML profile?)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: TOML syntax error: {exc}") from None
    data.setdefault("name", p.stem)
    return parse_profile(data, str(p))


def load_profile(name_or_path: str | Path = BUILTIN) -> tuple[Profile, str]:
    """(profile, source) for a profile name or a path to a TOML file.

    A name is looked up as ``<config dir>/<name>.toml`` first (so a lab can override the
    built-in virtual bench), then among the built-ins.
    """
    s = str(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, Path) or s.endswith(".toml") or os.sep in s or "/" in s
    )
    if looks_like_path:
        p = Path(s).expanduser()
        return load_profile_file(p), str(p)
    candidate = config_dir() / f"{s}.toml"
    if candidate.is_file():
        return load_profile_file(candidate), str(candidate)
    if s == BUILTIN:
        return Profile(name=BUILTIN, description="built-in virtual bench"), "built-in"
    raise ConfigError(
        f"device profile {s!r} not found: looked for {candidate}; available profiles: "
        f"{', '.join(available_profiles())}"
    )
