"""Which all-in-focus image a session's fit uses: captured, synthesised from the sweep, a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from psfbench.core.dataset import DatasetError, Session
from psfbench.core.stacking.io import from_float
from psfbench.core.stacking.quality import psnr
from psfbench.core.stacking.session_aif import SYNTH_NAME, resolve_aif
from psfbench.core.stacking.synthetic import make_plane_stack
from tests.stacking.sweep_session import F_MM, write_sweep_session


@pytest.fixture
def sweep(tmp_path: Path):
    """A 12-bit session with a sweep and no captured all-in-focus shot, and its truth."""
    st = make_plane_stack(48, 64, channels=1, planes=3, frames=5, A=300.0, F_mm=F_MM, seed=7)
    return Session.open(write_sweep_session(tmp_path / "s", st, bit_depth=12)), st


def test_auto_synthesises_and_stores_it_when_no_shot_was_taken(sweep) -> None:
    session, st = sweep
    src = resolve_aif(session, "auto", align=False)
    assert src.kind == "synthesised" and src.frames_used == 5
    assert src.path == session.path / "results" / SYNTH_NAME
    stored = tifffile.imread(src.path)
    assert stored.dtype == np.uint16 and stored.shape == (48, 64) and stored.max() <= 4095
    np.testing.assert_array_equal(src.image[0], stored / np.float32(4095))  # fit uses the file
    assert psnr(src.image, st.aif) > max(psnr(f, st.aif) for f in st.frames) + 3


def test_captured_is_refused_by_name_when_the_session_has_none(sweep) -> None:
    session, _ = sweep
    with pytest.raises(DatasetError, match=r"aif\.tif: aif: .*--aif synthesised"):
        resolve_aif(session, "captured")


def test_a_file_is_read_on_the_session_scale_and_must_share_the_pixel_grid(
    sweep, tmp_path: Path
) -> None:
    session, st = sweep
    good = tmp_path / "aif_made_elsewhere.tif"
    tifffile.imwrite(good, from_float(st.aif, np.dtype(np.uint16), 4095))
    src = resolve_aif(session, str(good))
    assert src.kind == "file"
    assert np.abs(src.image - st.aif).max() <= 0.5 / 4095 + 1e-6
    bad = tmp_path / "cropped.tif"
    tifffile.imwrite(bad, np.zeros((40, 64), np.uint16))
    with pytest.raises(DatasetError, match=r"cropped\.tif: aif: shape .* pixel grid"):
        resolve_aif(session, str(bad))
    with pytest.raises(DatasetError, match=r"missing\.png: aif: file is missing"):
        resolve_aif(session, str(tmp_path / "missing.png"))
