from __future__ import annotations

import json

import numpy as np
import pytest

from psfbench.core.dataset import Session, SessionWriter
from psfbench.core.dataset.layout import frame_name

from .helpers import image, make_meta, write_session


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("shape", [(10, 14), (10, 14, 3)])
def test_frames_round_trip_exactly(tmp_path, dtype, shape) -> None:
    bits = 8 if dtype == "uint8" else 12
    imgs = [image(shape, dtype, seed) for seed in range(3)]
    with SessionWriter.create(tmp_path / "s", make_meta(3, bit_depth=bits)) as w:
        for i, img in enumerate(imgs):
            rec = w.write_frame(i, img, {"d_mm": 30.0 + i, "exposure_us": 500.0})
            assert rec.frame == frame_name(i)
        w.write_aif(imgs[0])
    s = Session.open(tmp_path / "s")
    assert s.indices == [0, 1, 2]
    for i, img in enumerate(imgs):
        got = s.frame(i)
        assert got.dtype == img.dtype and got.shape == img.shape
        np.testing.assert_array_equal(got, img)
    np.testing.assert_array_equal(s.aif(as_float=False, channels_first=False), imgs[0])
    stack = s.frames_array()
    c = 3 if len(shape) == 3 else 1
    assert stack.shape == (3, c, 10, 14) and stack.dtype == np.float32
    full = {"uint8": 255.0, "uint16": 4095.0, "float32": 1.0}[dtype]
    expect = imgs[1].astype(np.float32) / np.float32(full)
    expect = np.moveaxis(expect, -1, 0) if expect.ndim == 3 else expect[None]
    np.testing.assert_allclose(stack[1], expect, rtol=1e-6)
    raw = s.frames_array([2, 0], as_float=False, channels_first=False)
    np.testing.assert_array_equal(raw[0], imgs[2])
    assert s.meta.camera.width == 14 and s.meta.camera.height == 10
    np.testing.assert_array_equal(s.d_mm, [30.0, 31.0, 32.0])
    rep = s.validate()
    assert rep.valid and rep.frames == 3 and rep.missing_steps == []


def test_twelve_bit_scaled_by_bit_depth_not_dtype(tmp_path) -> None:
    img = np.array([[0, 4095], [2048, 1]], np.uint16)
    with SessionWriter.create(tmp_path / "s", make_meta(1)) as w:
        w.write_frame(0, img, {"d_mm": 30.0})
    f = Session.open(tmp_path / "s").frame_float(0)
    assert f.shape == (1, 2, 2)
    assert f.max() == 1.0 and abs(f[0, 1, 0] - 2048 / 4095) < 1e-7


def test_depth_aif_results_and_meta_round_trip(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    depth = np.full((12, 16), 850.0, np.float32)
    depth[0, :3] = np.nan
    with SessionWriter.open_existing(root) as w:
        w.write_depth(depth)
        land = np.arange(12.0).reshape(3, 4)
        w.write_results("fit", {"A": 801.5, "e": 23.61}, {"landscape": land})
        w.update_meta(notes="refocused", calibration={"procam": {"rms_px": 0.57}})
    s = Session.open(root)
    got = s.depth()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(depth))
    assert np.nanmax(got) == 850.0
    assert s.aif().shape == (1, 12, 16)
    data, arrays = s.result("fit")
    assert data == {"A": 801.5, "e": 23.61}
    np.testing.assert_array_equal(arrays["landscape"], np.arange(12.0).reshape(3, 4))
    assert s.result_names() == ["fit"]
    assert s.meta.notes == "refocused" and s.meta.calibration["procam"] == {"rms_px": 0.57}
    meta_json = json.loads((root / "session.json").read_text())
    assert meta_json["schema"] == "psfbench.session/1"


def test_missing_steps_and_focus_depths(tmp_path) -> None:
    root = write_session(tmp_path / "s", n_frames=2, n_steps=5)
    s = Session.open(root)
    assert s.missing_steps() == [2, 3, 4]
    Df = s.check_focus_depths(23.6)
    v = np.array([30.0, 31.0]) + 23.6
    np.testing.assert_allclose(Df, 50 * v / (v - 50))
    assert s.focus_depth_mm is None


def test_given_focus_depths_win_over_d(tmp_path) -> None:
    with SessionWriter.create(tmp_path / "s", make_meta(2)) as w:
        w.write_frame(0, image((4, 4), "uint16", 0), {"focus_depth_mm": 900.0})
        w.write_frame(1, image((4, 4), "uint16", 1), {"focus_depth_mm": 950.0, "d_mm": 29.0})
    s = Session.open(tmp_path / "s")
    np.testing.assert_array_equal(s.check_focus_depths(10.0), [900.0, 950.0])
    np.testing.assert_array_equal(s.focus_depth_mm, [900.0, 950.0])
    assert np.isnan(s.d_mm[0])


def test_files_are_plain_tiffs_other_readers_open(tmp_path) -> None:
    """Fiji/napari compatibility proxy: libtiff (through OpenCV) reads our files unchanged."""
    import cv2

    root = write_session(tmp_path / "s")
    s = Session.open(root)
    raw = cv2.imread(str(root / "frames" / "frame_0001.tif"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw, s.frame(1))
    depth = cv2.imread(str(root / "depth.tif"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, s.depth())
    rgb = image((6, 5, 3), "uint8", 3)
    with SessionWriter.create(tmp_path / "c", make_meta(1, bit_depth=8)) as w:
        w.write_frame(0, rgb, {"d_mm": 30.0})
    bgr = cv2.imread(str(tmp_path / "c" / "frames" / "frame_0000.tif"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(bgr[..., ::-1], rgb)
