"""CSV import as spreadsheets write it, and a failed import that changes nothing on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from psfbench.core.dataset import DatasetError, import_image_folder
from psfbench.core.dataset.csv_table import read_table

H, W = 6, 8


def _images(folder: Path, n: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        assert cv2.imwrite(str(folder / f"shot{i}.png"), np.full((H, W), 10 * i, np.uint8))


def _import(csv: Path, out: Path) -> object:
    return import_image_folder(csv, out, focal_length_mm=50, pixel_size_mm=0.00345)


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        ("file,d_mm,motor_steps\r\nshot0.png,30.5,0\r\nshot1.png,31,2\r\n", "utf-8-sig"),
        ("file;d_mm;motor_steps\nshot0.png;30,5;0\nshot1.png;31,0;2\n", "utf-8"),
        ("File\tD_mm\tmotor_steps\nshot0.png\t30.5\t0\nshot1.png\t31\t2\n", "utf-16"),
        ('"file","d_mm","notes"\n"shot0.png","30.5","a, b; c"\n"shot1.png",31,"é"\n', "cp1252"),
        ('file;d_mm;\nshot0.png;30,5;\nshot1.png;"31,0";\n\n', "utf-8"),
        ("file,d_mm\n\nshot0.png,30.5,,\nshot1.png,31,,,\n", "utf-8"),
    ],
)
def test_dialects_import(tmp_path, raw, encoding) -> None:
    _images(tmp_path / "src", 2)
    csv = tmp_path / "src" / "d.csv"
    csv.write_bytes(raw.encode(encoding))
    s = _import(csv, tmp_path / "out")
    np.testing.assert_allclose(s.d_mm, [30.5, 31.0])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("file,d_mm\nshot0.png,30.5\nshot1.png,3x\n", r"d\.csv: line 3: d_mm \(column 2\): '3x'"),
        ("file;d_mm\nshot0.png;30.5\nshot1.png;3,0,1\n", r"line 3: d_mm \(column 2\)"),
        ("file,d_mm\nshot0.png,30.5\nshot1.png,31,7\n", r"line 3: column 3: value '7' beyond"),
        ("file,d_mm\nshot0.png,nan\n", r"line 2: d_mm \(column 2\): 'nan' is not a number"),
        ("file,d_mm,motor_steps\nshot0.png,30,1.5\n", r"line 2: motor_steps \(column 3\)"),
        ("name,d_mm\nshot0.png,30\n", r"d\.csv: header: no 'file' column"),
        ("file,d_mm,d_mm\nshot0.png,30,31\n", r"line 1: header \(column 3\): column 'd_mm'"),
        ("file,d_mm\nshot0.png,\n", r"line 2: d_mm \(column 2\): no d_mm"),
        ("file,d_mm,index\nshot0.png,30,1\nshot1.png,31,1\n", r"line 3: index: index 1 already"),
        ("", r"d\.csv: header: empty file"),
        ('file,d_mm\n"shot0.png,30\n', r"d\.csv: line"),
    ],
)
def test_errors_name_file_line_and_column(tmp_path, raw, match) -> None:
    _images(tmp_path / "src", 2)
    csv = tmp_path / "src" / "d.csv"
    csv.write_text(raw, encoding="utf-8")
    with pytest.raises(DatasetError, match=match):
        _import(csv, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_undecodable_bytes_name_line_and_column(tmp_path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_bytes(b"file,d_mm\nshot\x81.png,30\n")  # 0x81: not UTF-8, not Windows-1252
    with pytest.raises(DatasetError, match=r"d\.csv: line 2, column 5 \(byte\): byte 0x81"):
        read_table(csv)
    csv.write_bytes(b"\x00\x01\x02file")
    with pytest.raises(DatasetError, match=r"binary data"):
        read_table(csv)


def test_a_failed_import_leaves_nothing_and_changes_nothing(tmp_path) -> None:
    _images(tmp_path / "src", 3)
    csv = tmp_path / "src" / "d.csv"
    csv.write_text("file,d_mm\nshot0.png,30\nshot1.png,31\ngone.png,32\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"gone\.png: image: file is missing"):
        _import(csv, empty)
    assert empty.is_dir() and not any(empty.iterdir())  # the empty folder is as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "src"]  # no debris
    with pytest.raises(DatasetError, match=r"gone\.png"):
        _import(csv, tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    (tmp_path / "src" / "gone.png").write_bytes((tmp_path / "src" / "shot0.png").read_bytes())
    s = _import(csv, empty)  # an empty folder is filled
    assert len(s.indices) == 3  # type: ignore[attr-defined]
    before = {p: p.read_bytes() for p in empty.rglob("*") if p.is_file()}
    with pytest.raises(DatasetError, match=r"not empty"):
        _import(csv, empty)
    assert {p: p.read_bytes() for p in empty.rglob("*") if p.is_file()} == before
