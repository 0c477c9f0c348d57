"""Pydantic models of ``session.json`` and of one ``sweep.jsonl`` record.

The schema string is versioned so that a future format change is detected instead of being
half-read: an unknown version is refused with a :class:`DatasetError`. Models forbid unknown
fields (a typo in a hand-edited file should not be silently ignored); the free-form parts
(calibration, device state, plan extras) are typed as JSON values so they still round-trip.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from psfbench.core import __version__
from psfbench.core.dataset.errors import DatasetError

SCHEMA = "psfbench.session/1"
SUPPORTED_SCHEMAS = (SCHEMA,)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Camera(_Model):
    """The camera as configured for this session (``width``/``height``: delivered image/ROI)."""

    model: str = "unknown"
    serial: str = ""
    pixel_size_mm: float = Field(gt=0, lt=1)
    #: Significant bits per sample; 12-bit data is stored LSB-aligned in uint16.
    bit_depth: int = Field(default=8, ge=1, le=16)
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    pixel_format: str = "Mono8"


class Lens(_Model):
    focal_length_mm: float = Field(gt=0)
    f_number: float | None = Field(default=None, gt=0)
    #: A prior value of the mechanical offset e (mm), e.g. from a previous fit; optional.
    nominal_e_mm: float | None = None


class PlannedStep(_Model):
    index: int = Field(ge=0)
    motor_steps: int | None = None
    target_d_mm: float | None = None
    target_focus_depth_mm: float | None = None


class SweepPlan(_Model):
    kind: str = "focus_sweep"
    steps: list[PlannedStep] = Field(default_factory=list)
    #: Plan parameters (settle time, frames averaged, exposure, ...), kept for provenance.
    parameters: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _unique_indices(cls, steps: list[PlannedStep]) -> list[PlannedStep]:
        seen: set[int] = set()
        for s in steps:
            if s.index in seen:
                raise ValueError(f"planned step index {s.index} appears twice")
            seen.add(s.index)
        return steps


class ImpliedDistance(_Model):
    """Records whose d was derived from a given focus depth Df rather than measured.

    With Df given, the mechanical offset e is not identifiable (it only enters through d);
    d = F Df / (Df - F) - e is stored for convenience with the e and F named here.
    """

    e_mm: float
    focal_length_mm: float = Field(gt=0)
    reason: str = ""


class Provenance(_Model):
    software: str = "psfbench"
    software_version: str = __version__
    host: str = Field(default_factory=socket.gethostname)
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    profile: str | None = None
    source: str | None = None
    #: Hidden parameters of a simulated session (e.g. {"A": 800, "e_mm": 23.6}).
    simulated_truth: dict[str, JsonValue] | None = None


class SessionMeta(_Model):
    schema_: str = Field(default=SCHEMA, alias="schema")
    camera: Camera
    lens: Lens
    #: s in eq. 3: factor by which stored images were downscaled from the sensor (s > 1).
    output_scale: float = Field(default=1.0, gt=0)
    plan: SweepPlan = Field(default_factory=SweepPlan)
    calibration: dict[str, JsonValue] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)
    implied_d: ImpliedDistance | None = None
    notes: str = ""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, populate_by_name=True, allow_inf_nan=False
    )

    @field_validator("schema_")
    @classmethod
    def _known_schema(cls, v: str) -> str:
        if v not in SUPPORTED_SCHEMAS:
            raise ValueError(f"unknown schema version {v!r}; this psfbench reads {SCHEMA!r}")
        return v

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class SweepRecord(_Model):
    """One acquired frame. ``d_mm`` is the measured sensor reading; ``focus_depth_mm`` (Df) is
    set instead/as well when the data came with focus depths (All-in-3D)."""

    index: int = Field(ge=0)
    frame: str
    motor_steps: int | None = None
    d_mm: float | None = None
    focus_depth_mm: float | None = Field(default=None, gt=0)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    monotonic_s: float | None = None
    exposure_us: float | None = Field(default=None, ge=0)
    frames_averaged: int = Field(default=1, ge=1)
    device_state: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_distance(self) -> SweepRecord:
        if self.d_mm is None and self.focus_depth_mm is None:
            raise ValueError("a record needs d_mm (measured distance) or focus_depth_mm")
        return self

    @field_validator("frame")
    @classmethod
    def _relative_frame(cls, v: str) -> str:
        if v.startswith(("/", "\\")) or ".." in v.replace("\\", "/").split("/"):
            raise ValueError("frame must be a path relative to the session folder")
        return v


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic location ('plan', 'steps', 3, 'index') -> 'plan.steps[3].index'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + ("schema" if part == "schema_" else str(part))
    return out or "(root)"


def dataset_error_from(exc: ValidationError, file: str, prefix: str = "") -> DatasetError:
    """First pydantic error as a DatasetError; the others are summarised in the message."""
    errors = exc.errors()
    first = errors[0]
    field = field_path(tuple(first["loc"]))
    if prefix:
        field = f"{prefix}.{field}" if field != "(root)" else prefix
    msg = str(first["msg"])
    if len(errors) > 1:
        others = ", ".join(field_path(tuple(e["loc"])) for e in errors[1:4])
        msg += f" (and {len(errors) - 1} more: {others}{', ...' if len(errors) > 4 else ''})"
    return DatasetError(file, field, msg)


def parse_meta(data: Any, file: str = "session.json") -> SessionMeta:
    if not isinstance(data, dict):
        raise DatasetError(file, "(root)", "expected a JSON object")
    if "schema" not in data:
        raise DatasetError(file, "schema", f"missing schema version (expected {SCHEMA!r})")
    if data["schema"] not in SUPPORTED_SCHEMAS:
        raise DatasetError(
            file,
            "schema",
            f"unknown schema version {data['schema']!r}; this psfbench reads {SCHEMA!r}",
        )
    try:
        return SessionMeta.model_validate(data)
    except ValidationError as exc:
        raise dataset_error_from(exc, file) from None


def parse_record(data: Any, file: str, line: int) -> SweepRecord:
    prefix = f"line {line}"
    if not isinstance(data, dict):
        raise DatasetError(file, prefix, "expected a JSON object")
    try:
        return SweepRecord.model_validate(data)
    except ValidationError as exc:
        raise dataset_error_from(exc, file, prefix) from None
