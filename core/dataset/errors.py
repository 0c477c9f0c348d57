"""The one exception type for bad session input.

Technicians and importers get a single error type whose message always names the file and the
field, so a broken session can be fixed without a traceback or reading our code.
"""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A session (or importer input) that cannot be used as it is."""

    def __init__(self, file: str | Path, field: str, message: str) -> None:
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(f"{self.file}: {field}: {message}")
