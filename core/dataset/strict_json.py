"""JSON as session files may hold it: strict, bounded, and every refusal a DatasetError.

Python's ``json`` reads ``NaN`` and ``Infinity`` (not JSON, and a NaN focal length would
poison every fit silently), turns ``1e999`` into infinity, raises a bare ``ValueError`` for an
integer of more than 4300 digits and a ``RecursionError`` for deep nesting. Here each of those
is a DatasetError naming the file and the line, and files larger than a session could need are
refused before they are read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from psfbench.core.dataset.errors import DatasetError

#: Deepest nesting of arrays/objects accepted (session files nest a few levels).
MAX_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (use null for a missing number)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _depth_ok(obj: Any) -> bool:
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def loads(text: str, file: str | Path, field: str = "(json)") -> Any:
    """Parse ``text``; DatasetError(file, field, ...) for anything that is not plain JSON."""
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise DatasetError(file, field, f"not valid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise DatasetError(file, field, f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # NaN/Infinity, 1e999, integers beyond 4300 digits
        raise DatasetError(file, field, f"not valid JSON ({exc})") from None
    if not _depth_ok(obj):
        raise DatasetError(file, field, f"nested deeper than {MAX_DEPTH} levels")
    return obj


def plain(obj: Any) -> Any:
    """``obj`` with every non-finite float as None, for writing: JSON has no NaN (an sd a fit
    could not determine, a zoom that did not converge) and :func:`loads` refuses it."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def read_limited(path: Path, rel: str, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refusing files larger than ``limit`` (DatasetError naming ``rel``)."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DatasetError(
                rel, "(file)", f"{size} bytes: larger than a {what} can be ({limit} bytes)"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(rel, "(file)", f"{what} is missing") from None
    except IsADirectoryError:
        raise DatasetError(rel, "(file)", "is a folder, not a file") from None
    except OSError as exc:
        raise DatasetError(rel, "(file)", f"cannot read ({exc})") from None
