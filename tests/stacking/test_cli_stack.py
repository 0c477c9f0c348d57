"""`psfbench stack` round trips: 8-bit PNG, 16-bit TIFF, JPEG, mono and colour."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from psfbench.core.cli import main
from psfbench.core.stacking.io import from_float, read_image, write_image
from psfbench.core.stacking.quality import psnr
from psfbench.core.stacking.synthetic import make_plane_stack


def _write_stack(tmp: Path, ext: str, dtype: type, channels: int) -> tuple[list[str], np.ndarray]:
    st = make_plane_stack(48, 64, channels=channels, planes=2, A=300.0, seed=channels)
    paths = []
    for i, f in enumerate(st.frames):
        p = tmp / f"frame_{i}{ext}"
        write_image(p, from_float(f, np.dtype(dtype)))
        paths.append(str(p))
    return paths, st.aif


@pytest.mark.parametrize(
    ("ext", "dtype", "channels"),
    [(".png", np.uint8, 3), (".png", np.uint8, 1), (".tif", np.uint16, 1), (".tif", np.uint16, 3)],
)
def test_round_trip_keeps_size_channels_depth(
    tmp_path: Path, ext: str, dtype: type, channels: int, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, aif = _write_stack(tmp_path, ext, dtype, channels)
    out = tmp_path / f"aif{ext}"
    depth = tmp_path / "depth.tif"
    rc = main(["stack", *paths, "--out", str(out), "--depth", str(depth), "--no-align"])
    assert rc == 0, capsys.readouterr().err
    img = read_image(out)
    src = read_image(paths[0])
    assert img.shape == src.shape and img.dtype == src.dtype == dtype
    fused = img.astype(np.float32) / np.iinfo(dtype).max
    fused = fused[None] if fused.ndim == 2 else fused.transpose(2, 0, 1)
    first = src.astype(np.float32) / np.iinfo(dtype).max
    first = first[None] if first.ndim == 2 else first.transpose(2, 0, 1)
    assert psnr(fused, aif) > psnr(first, aif) + 3
    d = tifffile.imread(depth)
    assert d.shape == (48, 64) and d.dtype == np.float32 and 0 <= d.min() <= d.max() <= 1


def test_colour_order_survives_opencv_formats(tmp_path: Path) -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 200  # red
    write_image(tmp_path / "a.png", rgb)
    assert cv2.imread(str(tmp_path / "a.png"))[0, 0, 2] == 200  # BGR on disk
    assert read_image(tmp_path / "a.png")[0, 0, 0] == 200


def test_jpeg_output_and_align_path(tmp_path: Path) -> None:
    paths, _ = _write_stack(tmp_path, ".png", np.uint8, 3)
    out = tmp_path / "aif.jpg"
    assert main(["stack", *paths, "--out", str(out)]) == 0
    assert cv2.imread(str(out)).shape == (48, 64, 3)


def test_sixteen_bit_to_jpeg_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths, _ = _write_stack(tmp_path, ".tif", np.uint16, 1)
    assert main(["stack", *paths, "--out", str(tmp_path / "x.jpg"), "--no-align"]) == 0
    assert "8-bit" in capsys.readouterr().err


def test_mismatched_frames_exit_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, _ = _write_stack(tmp_path, ".png", np.uint8, 3)
    odd = tmp_path / "odd.png"
    write_image(odd, np.zeros((10, 10, 3), np.uint8))
    rc = main(["stack", *paths, str(odd), "--out", str(tmp_path / "o.png")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "odd.png" in err and "size" in err


def test_bad_output_extension_and_missing_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths, _ = _write_stack(tmp_path, ".png", np.uint8, 1)
    assert main(["stack", *paths, "--out", str(tmp_path / "o.xyz"), "--no-align"]) == 2
    assert "o.xyz" in capsys.readouterr().err
    assert main(["stack", *paths, "--out", str(tmp_path / "o.png"), "--A", "300"]) == 2
    assert "--d-mm" in capsys.readouterr().err


def test_calibrated_depth_in_mm(tmp_path: Path) -> None:
    paths, _ = _write_stack(tmp_path, ".tif", np.uint16, 1)
    depth = tmp_path / "depth.tif"
    args = ["--d-mm", "33.5,31.2", "--e-mm", "23.6", "--focal-length-mm", "50", "--no-align"]
    out = str(tmp_path / "o.tif")
    assert main(["stack", *paths, "--out", out, "--depth", str(depth), *args]) == 0
    d = tifffile.imread(depth)
    assert 390 < d.min() <= d.max() < 700  # Df of d = 33.5..31.2 mm with e = 23.6, F = 50
