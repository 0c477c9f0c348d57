"""CSV import findings of a newcomer trial: refusals that say what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from psfbench.core.cli import main
from psfbench.core.dataset import DatasetError, import_image_folder

H, W = 6, 8


def _shots(folder: Path, values: list[np.ndarray], d: list[str], header: str = "d_mm") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"file,{header}"]
    for i, (img, di) in enumerate(zip(values, d, strict=True)):
        assert cv2.imwrite(str(folder / f"shot{i:03d}.png"), img)
        lines.append(f"shot{i:03d}.png,{di}")
    csv = folder / "sweep.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def _imgs(n: int, top: int = 4095, shift: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [(rng.integers(0, top + 1, (H, W)).astype(np.uint16) << shift) for _ in range(n)]


def _import(csv: Path, out: Path, **kw: object) -> object:
    return import_image_folder(csv, out, focal_length_mm=50, pixel_size_mm=0.00345, **kw)


def test_a_single_image_csv_is_refused(tmp_path, capsys) -> None:
    csv = _shots(tmp_path / "src", _imgs(1), ["30.0"])
    rc = main(["session", "import", "csv", str(csv), "--out", str(tmp_path / "s"),
               "--focal-length-mm", "50", "--pixel-size-mm", "0.00345"])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "sweep.csv: rows: 1 image listed" in err and "at least 2 focus positions" in err
    assert not (tmp_path / "s").exists()


def test_distances_in_metres_are_refused(tmp_path) -> None:
    csv = _shots(tmp_path / "src", _imgs(3), ["0.0308", "0.0310", "0.0312"])
    with pytest.raises(DatasetError, match=r"sweep\.csv: d_mm: .*implausibly small.*metres"):
        _import(csv, tmp_path / "s")
    csv = _shots(tmp_path / "df", _imgs(2), ["0.9", "1.2"], header="focus_depth_mm")
    with pytest.raises(DatasetError, match=r"line 2: focus_depth_mm \(column 2\): .*not beyond F"):
        _import(csv, tmp_path / "s2")
    csv = _shots(tmp_path / "ok", _imgs(2), ["30.8", "31.0"])
    assert _import(csv, tmp_path / "s3").validate().valid  # type: ignore[attr-defined]


def test_a_missing_image_names_the_csv_line(tmp_path) -> None:
    csv = _shots(tmp_path / "src", _imgs(2), ["30.0", "30.5"])
    csv.write_text(csv.read_text() + "shot999.png,31.0\n")
    with pytest.raises(
        DatasetError, match=r"sweep\.csv: line 4: file \(column 1\): .*shot999\.png: image: file"
    ):
        _import(csv, tmp_path / "s")


def test_left_aligned_12_bit_data_names_the_source_file_and_hints(tmp_path) -> None:
    csv = _shots(tmp_path / "src", _imgs(2, shift=4), ["30.0", "30.5"])
    with pytest.raises(DatasetError) as info:
        _import(csv, tmp_path / "s", bit_depth=12)
    msg = str(info.value)
    assert "shot000.png: bit depth: sample value" in msg and "frames/frame_" not in msg
    assert "shifted to the top bits (multiples of 16): 12-bit data stored left-aligned?" in msg
    csv = _shots(tmp_path / "raw", _imgs(2, top=65535), ["30.0", "30.5"])
    with pytest.raises(DatasetError) as info:
        _import(csv, tmp_path / "s2", bit_depth=12)
    assert "exceeds the 12-bit full scale 4095" in str(info.value)
    assert "left-aligned" not in str(info.value)
    assert not (tmp_path / "s").exists() and not (tmp_path / "s2").exists()


def test_allin3d_unit_errors_name_the_cli_flags(tmp_path, capsys) -> None:
    from tests.dataset.test_importers import H as H3
    from tests.dataset.test_importers import W as W3
    from tests.dataset.test_importers import _allin3d

    root = _allin3d(tmp_path)
    fd_path = root / "focus_4" / "000" / "fd.npy"
    fd = np.load(fd_path)
    np.save(fd_path, fd / 1000)  # metres
    args = ["session", "import", "allin3d", str(root), "--factor", "4", "--out"]
    assert main([*args, str(tmp_path / "o1")]) == 2
    assert "pass fd_scale=1000; CLI: --fd-scale 1000" in capsys.readouterr().err
    np.save(fd_path, fd)
    np.save(root / "depth_4" / "depth000.npy", np.full((H3, W3), 1.0))  # metres
    assert main([*args, str(tmp_path / "o2")]) == 2
    assert "pass depth_scale=1000; CLI: --depth-scale 1000" in capsys.readouterr().err
