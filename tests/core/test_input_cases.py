"""The real-world input cases of ../shared/cases (issue 15) that the image reader, the
stacker and the CSV importer own: each asserts the right value its README gives.

04 float TIFF of counts, 05 float TIFF with NaN, 08 multi-page / ImageJ z-stack, 09 tiny
frames, 15 LZW TIFF import, 16 spreadsheet CSVs. The cases are read where they lie; a test is
skipped, saying so, when the folder is absent (a checkout without ../shared).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from psfbench.core.cli import main
from psfbench.core.dataset import import_image_folder
from psfbench.core.imageio import read_frames
from psfbench.core.stacking.quality import psnr

CASES = Path(
    os.environ.get("PSFBENCH_CASES", Path(__file__).resolve().parents[2].parent / "shared/cases")
)


def case(name: str) -> Path:
    folder = CASES / name
    if not folder.is_dir():
        pytest.skip(f"case folder {folder} not found (the shared cases lie beside the checkout)")
    return folder


def _stack(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["stack", *args])
    return rc, capsys.readouterr().err


def _index_right(idx: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(idx - truth) < 0.5))


def test_04_float_tiff_of_counts_is_read_by_its_range(tmp_path, capsys) -> None:
    c = case("04-float-tiff-counts")
    out, idx = tmp_path / "aif.tif", tmp_path / "index.tif"
    rc, err = _stack([str(c / "input"), "--out", str(out), "--depth", str(idx)], capsys)
    assert rc == 0, err
    assert "full scale 4095" in err  # counts, said so
    assert "alignment" not in err  # a clean, unmoved stack: no alignment warning
    aif = tifffile.imread(out)
    truth = tifffile.imread(c / "truth_aif.tif")
    # written back in counts, as given (not 1.0 everywhere)
    assert aif.dtype == np.float32 and 300 < aif.min() and aif.max() < 4095
    quality = psnr(aif[None] / 4095, truth[None] / 4095)
    # the same frames as 16-bit integers fuse to the same image
    ints = tmp_path / "ints"
    ints.mkdir()
    for f in sorted((c / "input").glob("*.tif")):
        tifffile.imwrite(ints / f.name, np.round(tifffile.imread(f)).astype(np.uint16))
    out16 = tmp_path / "aif16.tif"
    assert _stack([str(ints), "--out", str(out16)], capsys)[0] == 0
    q16 = psnr(tifffile.imread(out16)[None] / 4095, truth[None] / 4095)
    assert quality > 35 and abs(quality - q16) < 1.0, (quality, q16)
    assert _index_right(tifffile.imread(idx), tifffile.imread(c / "truth_index.tif")) > 0.98


def test_04_float_out_of_any_known_range_is_refused_naming_file_and_range(tmp_path, capsys) -> None:
    for k in range(2):
        tifffile.imwrite(tmp_path / f"f{k}.tif", np.full((32, 32), -500.0 + k, np.float32))
    rc, err = _stack([str(tmp_path), "--out", str(tmp_path / "o.tif")], capsys)
    assert rc == 2
    assert "f0.tif" in err and "[-500, -500]" in err and "Traceback" not in err


def test_05_nan_samples_are_missing_not_poison(tmp_path, capsys) -> None:
    c = case("05-float-tiff-nan")
    out, idx = tmp_path / "aif.tif", tmp_path / "index.tif"
    rc, err = _stack([str(c / "input"), "--out", str(out), "--depth", str(idx)], capsys)
    assert rc == 0, err
    assert "60 NaN samples" in err  # the count is named
    aif = tifffile.imread(out)
    assert np.isfinite(aif).all()  # dead pixels (NaN in every frame) interpolated
    truth = tifffile.imread(c / "truth_aif.tif")
    assert psnr(aif[None], truth[None]) > 35
    right = _index_right(tifffile.imread(idx), tifffile.imread(c / "truth_index.tif"))
    assert right >= 0.985, right  # 99 % as without the NaN (no depth at the dead pixels)


def test_05_a_hole_in_one_frame_is_filled_from_the_others(tmp_path) -> None:
    from psfbench.core.stacking.pipeline import synthesize_aif
    from psfbench.core.stacking.synthetic import make_plane_stack

    st = make_plane_stack(64, 80, channels=1, planes=2, A=300.0, seed=1)
    clean = synthesize_aif(st.frames, align=False, depth=False)
    holed = st.frames.copy()
    holed[0, :, 10:30, 10:30] = np.nan
    res = synthesize_aif(holed, align=False, depth=False)
    assert np.isfinite(res.aif).all()
    assert any("400 NaN samples" in w for w in res.warnings)
    assert psnr(res.aif, st.aif) > psnr(clean.aif, st.aif) - 3


@pytest.mark.parametrize(
    ("name", "pages", "truth"),
    [
        ("zstack_3pages.tif", 3, "truth_aif.tif"),
        ("zstack_5pages.tif", 5, "truth_aif_5.tif"),
        ("zstack_5pages_imagej.tif", 5, "truth_aif_5.tif"),
    ],
)
def test_08_pages_of_one_tiff_are_the_frames(tmp_path, capsys, name, pages, truth) -> None:
    c = case("08-multipage-tiff-zstack")
    assert read_frames(c / "input" / name).shape == (pages, 120, 160)
    out = tmp_path / "aif.tif"
    rc, err = _stack([str(c / "input" / name), "--out", str(out)], capsys)
    assert rc == 0, err
    assert f"frames: {pages} from 1 input" in err
    aif = tifffile.imread(out)
    assert aif.shape == (120, 160) and aif.dtype == np.uint8  # fused, not an RGB of slices
    assert psnr(aif[None] / 255.0, tifffile.imread(c / truth)[None]) > 35


def test_09_tiny_frames_refuse_alignment_clearly_and_fuse_without_it(tmp_path, capsys) -> None:
    c = case("09-tiny-frames")
    for size in ("64x1", "12x9"):
        rc, err = _stack([str(c / "input" / size), "--out", str(tmp_path / "a.png")], capsys)
        assert rc == 2 and "too small to align" in err and "--no-align" in err
        assert "Traceback" not in err
        out = tmp_path / f"{size}.tif"
        rc, err = _stack([str(c / "input" / size), "--out", str(out), "--no-align"], capsys)
        assert rc == 0, err
    aif = tifffile.imread(tmp_path / "12x9.tif") / 255.0
    truth = tifffile.imread(c / "truth_aif.tif")
    best_frame = max(
        psnr(f[None] / 255.0, truth[None]) for f in read_frames(c / "input/12x9/frame_01.png")
    )
    assert psnr(aif[None], truth[None]) > best_frame + 5
    assert tifffile.imread(tmp_path / "64x1.tif").shape == (1, 64)


def test_15_lzw_tiffs_import_as_stack_reads_them(tmp_path) -> None:
    c = case("15-import-lzw-tiff")
    src = c / "input"
    assert tifffile.TiffFile(src / "shot000.tif").pages[0].compression == 5  # LZW
    s = import_image_folder(
        src / "distances.csv", tmp_path / "s", focal_length_mm=50, pixel_size_mm=0.00345,
        bit_depth=12,
    )  # fmt: skip
    assert s.validate().valid and len(s.indices) == 5
    np.testing.assert_array_equal(s.frame(3), tifffile.imread(src / "shot003.tif"))
    np.testing.assert_allclose(s.d_mm, [30.0, 30.05, 30.1, 30.15, 30.2])
    out = tmp_path / "aif.tif"
    assert main(["stack", "--session", str(tmp_path / "s"), "--out", str(out)]) == 0
    aif = tifffile.imread(out) / 4095.0
    assert psnr(aif[None], tifffile.imread(c / "truth_aif.tif")[None]) > 35


@pytest.mark.parametrize(
    "name",
    [
        "excel_utf8_bom.csv",
        "excel_ansi_cp1252.csv",
        "excel_semicolon_decimal_comma.csv",
        "trailing_comma.csv",
    ],
)
def test_16_spreadsheet_csvs_import(tmp_path, capsys, name) -> None:
    c = case("16-import-excel-csv")
    out = tmp_path / "s"
    rc = main(["session", "import", "csv", str(c / "input" / name), "--out", str(out),
               "--focal-length-mm", "50", "--pixel-size-mm", "0.00345"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    from psfbench.core.dataset import Session

    s = Session.open(out)
    np.testing.assert_allclose(s.d_mm, [30.0, 30.05, 30.1, 30.15, 30.2])
    if name != "excel_ansi_cp1252.csv":
        assert [r.motor_steps for r in s.records] == [0, 200, 400, 600, 800]
