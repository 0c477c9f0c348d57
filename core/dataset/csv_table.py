"""Reading the CSV files spreadsheets write, as a table of text cells with their positions.

Excel, LibreOffice and Numbers export "CSV" in several dialects. Accepted here:

- encodings: UTF-8 (with or without a byte-order mark), UTF-16 with a BOM ("Unicode text"),
  and, when a file is not valid UTF-8, Windows-1252 ("ANSI", the default of Excel on Western
  Windows); a file that is neither is refused naming the line and column of the first bad byte;
- separators: ``,`` ``;`` tab or ``|``, found from the header row (the one that splits it into
  the named columns); quoted fields (``"a;b"``, doubled ``""`` quotes) as the csv module reads
  them;
- decimal commas (``30,05``) where the separator is not a comma (what a German or French
  Excel writes with ``;``);
- trailing separators and empty trailing columns; blank lines; CR LF line ends.

Errors are DatasetErrors whose field names the line and column: ``line 3: d_mm (column 2)``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from psfbench.core.dataset.errors import DatasetError

SEPARATORS = (",", ";", "\t", "|")
#: Larger CSVs are refused: a sweep table has one row per frame.
MAX_CSV_BYTES = 64 << 20

_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


@dataclass
class Row:
    line: int  # 1-based line of the file where the row starts
    cells: dict[str, str]  # column name -> stripped text ("" when empty)


@dataclass
class Table:
    path: Path
    header: list[str]
    rows: list[Row]
    separator: str
    encoding: str

    def cell_field(self, row: Row, column: str) -> str:
        """``line N: name (column K)``: where a cell is, for error messages."""
        return f"line {row.line}: {column} (column {self.header.index(column) + 1})"

    def number(self, row: Row, column: str, kind: type = float) -> float | int | None:
        """The cell as a number (None when empty); a decimal comma is read where the separator
        is not a comma. DatasetError naming line and column for anything else."""
        text = row.cells.get(column, "")
        if not text:
            return None
        raw = text.replace("\u00a0", "").replace(" ", "")  # thousands spaces, NBSP
        where = self.cell_field(row, column)
        if "," in raw:
            if self.separator == "," or "." in raw or raw.count(",") > 1:
                raise DatasetError(self.path, where, f"{text!r} is not a number")
            raw = raw.replace(",", ".")
        if not _NUMBER.fullmatch(raw):
            raise DatasetError(self.path, where, f"{text!r} is not a number")
        if kind is int:
            value = float(raw)
            if not value.is_integer():
                raise DatasetError(self.path, where, f"{text!r} is not an integer")
            return int(value)
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):
            raise DatasetError(self.path, where, f"{text!r} is not a finite number")
        return value


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise DatasetError(path, "(encoding)", f"broken UTF-16 text ({exc.reason})") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DatasetError(
            path,
            f"line {line}, column {col} (byte)",
            f"byte 0x{data[exc.start]:02x} is neither UTF-8 nor Windows-1252 text; save the "
            "CSV as UTF-8",
        ) from None


def _split(text: str, sep: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=sep, strict=False))


def _header_separator(path: Path, first_line: str, required: str) -> str:
    """The separator that splits the header into columns, one of which is ``required``."""
    best, best_n = "", 0
    for sep in SEPARATORS:
        rows = _split(first_line, sep)
        names = [h.strip().lower() for h in rows[0]] if rows else []
        if required in names and len([n for n in names if n]) > best_n:
            best, best_n = sep, len([n for n in names if n])
    if not best:
        raise DatasetError(
            path,
            "header",
            f"no {required!r} column in the first line {first_line.strip()[:80]!r} with any "
            "separator (, ; tab |)",
        )
    return best


def read_table(path: str | Path, required: str = "file") -> Table:
    """Header + rows of a spreadsheet CSV (see the module docstring); the header must name a
    ``required`` column. Column names are lower-cased and stripped."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_CSV_BYTES:
            raise DatasetError(p, "(file)", f"{size} bytes: larger than a sweep table can be")
        data = p.read_bytes()
    except FileNotFoundError:
        raise DatasetError(p, "(file)", "CSV file is missing") from None
    except IsADirectoryError:
        raise DatasetError(p, "(file)", "is a folder, not a CSV file") from None
    except OSError as exc:
        raise DatasetError(p, "(file)", f"cannot read CSV ({exc})") from None
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DatasetError(p, "(file)", "binary data (NUL bytes): not a CSV text file")
    text, encoding = _decode(p, data)
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise DatasetError(p, "header", "empty file: needs a header row")
    sep = _header_separator(p, lines[first], required)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    header: list[str] | None = None
    rows: list[Row] = []
    try:
        start = 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = _header(p, line, cells)
                continue
            rows.append(_row(p, line, header, cells))
    except csv.Error as exc:
        raise DatasetError(p, f"line {reader.line_num}", f"malformed CSV ({exc})") from None
    assert header is not None
    return Table(p, header, rows, sep, encoding)


def _header(path: Path, line: int, cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    while names and not names[-1]:  # trailing separators
        names.pop()
    for k, name in enumerate(names, start=1):
        if not name:
            raise DatasetError(path, f"line {line}: header (column {k})", "empty column name")
        if names.index(name) != k - 1:
            raise DatasetError(
                path, f"line {line}: header (column {k})", f"column {name!r} appears twice"
            )
    return names


def _row(path: Path, line: int, header: list[str], cells: list[str]) -> Row:
    values = [c.strip() for c in cells]
    extra = values[len(header) :]
    for k, v in enumerate(extra, start=len(header) + 1):
        if v:
            raise DatasetError(
                path,
                f"line {line}: column {k}",
                f"value {v!r} beyond the header's {len(header)} columns (a separator inside an "
                "unquoted field?)",
            )
    values = values[: len(header)] + [""] * (len(header) - len(values))
    return Row(line, dict(zip(header, values, strict=True)))
