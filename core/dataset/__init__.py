"""Session format: crash-safe writers, a validating reader, importers (docs/dataset.md)."""

from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.import_allin3d import import_allin3d
from psfbench.core.dataset.import_csv import import_image_folder
from psfbench.core.dataset.schema import (
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
from psfbench.core.dataset.session import Session, ValidationReport
from psfbench.core.dataset.writer import SessionWriter

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
    "import_allin3d",
    "import_image_folder",
]
