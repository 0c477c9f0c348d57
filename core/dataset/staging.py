"""Building a whole session out of sight and moving it into place only when it is complete.

Importers read and write many files; a bad image halfway through must not leave a half
session behind, nor touch anything that was already on disk. The session is written into a
hidden sibling folder (named like the other temporary files, so it reads as debris if the
process dies) and renamed to the target at the end; on any error the hidden folder is removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psfbench.core.dataset.atomic import fsync_dir, temp_name
from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.schema import SessionMeta
from psfbench.core.dataset.writer import SessionWriter


def check_new_folder(out: Path) -> None:
    """DatasetError unless ``out`` is free for a new session (absent, or an empty folder)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise DatasetError(out, "(folder)", "exists and is not a folder; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise DatasetError(out, "(folder)", "already exists and is not empty; choose a new folder")


@contextmanager
def staged_session(
    out_dir: str | Path, meta: SessionMeta | dict[str, Any]
) -> Iterator[SessionWriter]:
    """A SessionWriter on a hidden folder that becomes ``out_dir`` when the block succeeds."""
    out = Path(out_dir).absolute()
    check_new_folder(out)
    made: list[Path] = []
    parent = out.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    for d in reversed(made):
        d.mkdir()
    stage = temp_name(out)
    try:
        with SessionWriter.create(stage, meta) as writer:
            yield writer
        check_new_folder(out)  # nothing appeared there meanwhile
        if out.is_dir():
            out.rmdir()
        os.rename(stage, out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for d in made:  # innermost first
            try:
                d.rmdir()
            except OSError:
                break
        raise
