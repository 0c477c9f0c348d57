"""Session format: crash-safe writers, a validating reader, importers (docs/dataset.md)."""

from core.dataset.errors import DatasetError
from core.dataset.schema import (
    SCHEMA,
    Camera,
    ImpliedDistance,
    Lens,
    PlannedStep,
    Provenance,
    SessionMeta,
    SweepPlan,
    SweepRecord,
)
from core.dataset.session import Session, ValidationReport
from core.dataset.writer import SessionWriter

__all__ = [
    "SCHEMA",
    "Camera",
    "DatasetError",
    "ImpliedDistance",
    "Lens",
    "PlannedStep",
    "Provenance",
    "Session",
    "SessionMeta",
    "SessionWriter",
    "SweepPlan",
    "SweepRecord",
    "ValidationReport",
]
