"""Stacks that are not a normal sweep: clear messages, never a traceback, and no warning
when nothing is wrong."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from psfbench.core.cli import main
from psfbench.core.stacking.pipeline import synthesize_aif
from psfbench.core.stacking.synthetic import make_plane_stack


def test_a_clean_unmoved_stack_does_not_warn() -> None:
    for seed in range(3):
        st = make_plane_stack(96, 128, channels=1, planes=3, A=600.0, seed=seed)
        res = synthesize_aif(st.frames, align=True, depth=True)
        assert res.warnings == [], res.warnings
        assert res.alignment is not None  # blurred frames may leave notes, not warnings


def test_frames_too_small_to_align_are_refused_by_name() -> None:
    st = make_plane_stack(12, 9, channels=1, planes=2, A=100.0, seed=0)
    with pytest.raises(ValueError, match=r"9x12 px: too small to align"):
        synthesize_aif(st.frames, align=True)
    res = synthesize_aif(st.frames, align=False)
    assert res.aif.shape == (1, 12, 9) and np.isfinite(res.aif).all()


def test_single_and_constant_frames_are_explained(tmp_path, capsys) -> None:
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), (np.random.default_rng(0).random((40, 50)) * 255).astype(np.uint8))
    out = tmp_path / "o.png"
    assert main(["stack", str(one), "--out", str(out), "--depth", str(tmp_path / "d.tif")]) == 0
    assert "a single frame: nothing to fuse" in capsys.readouterr().err
    np.testing.assert_array_equal(cv2.imread(str(out), 0), cv2.imread(str(one), 0))
    flat = []
    for k in range(3):
        flat.append(str(tmp_path / f"c_{k}.png"))
        cv2.imwrite(flat[-1], np.full((40, 50), 100 + k, np.uint8))
    assert main(["stack", *flat, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "no detail (constant images)" in err and "Traceback" not in err
    assert abs(int(cv2.imread(str(out), 0).mean()) - 101) <= 1


def test_inputs_that_are_not_a_stack_exit_2_with_a_reason(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["stack", str(tmp_path / "empty"), "--out", str(tmp_path / "o.png")]) == 2
    assert "no image files" in capsys.readouterr().err
    (tmp_path / "x.png").write_bytes(b"not an image")
    assert main(["stack", str(tmp_path / "x.png"), "--out", str(tmp_path / "o.png")]) == 2
    assert "x.png: image: not a readable image" in capsys.readouterr().err
    nan = tmp_path / "nan.tif"
    import tifffile

    tifffile.imwrite(nan, np.full((20, 20), np.nan, np.float32))
    assert main(["stack", str(nan), "--out", str(tmp_path / "o.tif")]) == 2
    assert "no finite sample" in capsys.readouterr().err
