"""``sweep.jsonl``: the append-only sweep table, one JSON record per line, fsync'd per record.

Appending (rather than rewriting a JSON array) means a crash can damage at most the line being
written. A line only counts once its newline is on disk: a torn tail is ignored by readers and
cut off by a resuming writer, so the step is simply acquired again. Duplicate indices (a step
redone after a crash whose record did make it) resolve to the last record, and are reported.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from psfbench.core.dataset import strict_json
from psfbench.core.dataset.atomic import fsync_dir
from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.layout import LOG_NAME
from psfbench.core.dataset.schema import SweepRecord, parse_record
from psfbench.core.dataset.strict_json import read_limited

#: Largest sweep table read (about a million records); a larger file is refused unread.
MAX_LOG_BYTES = 256 << 20


@dataclass
class LogContents:
    #: Valid records in file order (duplicates included).
    records: list[SweepRecord] = field(default_factory=list)
    #: Byte length of the committed part (up to the last newline).
    committed_bytes: int = 0
    #: Bytes after the last newline (a torn write), empty if none.
    torn_tail: bytes = b""
    #: Complete lines that are not valid records, as errors naming the line.
    bad_lines: list[DatasetError] = field(default_factory=list)

    def latest_by_index(self) -> tuple[dict[int, SweepRecord], list[int]]:
        """Last record per index, and the indices that appeared more than once."""
        out: dict[int, SweepRecord] = {}
        dups: list[int] = []
        for rec in self.records:
            if rec.index in out and rec.index not in dups:
                dups.append(rec.index)
            out[rec.index] = rec
        return out, sorted(dups)


def read_log(path: Path, rel: str = LOG_NAME) -> LogContents:
    """Parse the log without ever raising on content; the caller decides what is fatal."""
    data = read_limited(path, rel, MAX_LOG_BYTES, "sweep table")
    out = LogContents()
    end = data.rfind(b"\n") + 1
    out.committed_bytes = end
    out.torn_tail = data[end:]
    for lineno, raw in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        try:
            obj = strict_json.loads(raw.decode("utf-8"), rel, f"line {lineno}")
        except UnicodeDecodeError as exc:
            out.bad_lines.append(DatasetError(rel, f"line {lineno}", f"not UTF-8 text ({exc})"))
            continue
        except DatasetError as exc:
            out.bad_lines.append(exc)
            continue
        try:
            out.records.append(parse_record(obj, rel, lineno))
        except DatasetError as exc:
            out.bad_lines.append(exc)
    return out


class SweepLogAppender:
    """Open for appending; each :meth:`append` is one write() plus fsync."""

    def __init__(self, path: Path) -> None:
        existed = path.exists()
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed:
            os.fsync(self._fd)
            fsync_dir(path.parent)

    def append(self, record: SweepRecord) -> None:
        line = json.dumps(record.model_dump(mode="json"), allow_nan=False) + "\n"
        buf = memoryview(line.encode("utf-8"))
        while buf:
            n = os.write(self._fd, buf)
            buf = buf[n:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def truncate_torn_tail(path: Path, committed_bytes: int) -> None:
    """Cut a torn last line so that the next append starts on a fresh line."""
    with open(path, "r+b") as fh:
        fh.truncate(committed_bytes)
        fh.flush()
        os.fsync(fh.fileno())
