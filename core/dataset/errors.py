"""The one exception type for bad session input.

Technicians and importers get a single error type whose message always names the file and the
field, so a broken session can be fixed without a traceback or reading our code.
"""

from __future__ import annotations

from psfbench.core.errors import FileFieldError


class DatasetError(FileFieldError):
    """A session (or importer input) that cannot be used as it is (``file: field: message``)."""
