"""The error shape user-facing file problems share: ``<file>: <field>: <message>``.

Session files (:class:`psfbench.core.dataset.DatasetError`) and image files
(:class:`psfbench.core.imageio.ImageFileError`) both raise it, so a message always names the file
and what in it is wrong, and a caller can catch either by this base.
"""

from __future__ import annotations

from pathlib import Path


class FileFieldError(ValueError):
    """A file that cannot be used as it is; ``file``, ``field`` and ``message`` kept apart."""

    def __init__(self, file: str | Path, field: str, message: str) -> None:
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(f"{self.file}: {field}: {message}")
