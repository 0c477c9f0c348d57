"""'Synthesise all-in-focus from this sweep' on a real psfbench session written to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.dataset import Camera, Lens, PlannedStep, Session, SessionMeta, SessionWriter, SweepPlan
from core.optics import sensor_distance
from core.stacking.io import from_float
from core.stacking.pipeline import synthesize_aif_from_session
from core.stacking.quality import psnr
from core.stacking.synthetic import make_plane_stack

E_MM, F_MM = 23.6, 50.0


def test_session_sweep_gives_aif_and_depth_in_mm(tmp_path: Path) -> None:
    st = make_plane_stack(64, 80, channels=1, planes=3, frames=5, A=300.0, F_mm=F_MM, seed=5)
    d = np.asarray(sensor_distance(st.focus_depths_mm, F_MM)) - E_MM  # what the sensor reads
    meta = SessionMeta(
        camera=Camera(pixel_size_mm=0.00345, bit_depth=16, pixel_format="Mono16"),
        lens=Lens(focal_length_mm=F_MM),
        plan=SweepPlan(steps=[PlannedStep(index=i) for i in range(len(d))]),
    )
    with SessionWriter.create(tmp_path / "s", meta) as w:
        for i, frame in enumerate(st.frames):
            w.write_frame(i, from_float(frame, np.dtype(np.uint16)), {"d_mm": float(d[i])})
    session = Session.open(tmp_path / "s")
    res = synthesize_aif_from_session(session, e_mm=E_MM, A=st.A, align=False)
    assert res.aif.shape == (1, 64, 80)
    assert psnr(res.aif, st.aif) > max(psnr(f, st.aif) for f in st.frames) + 5
    assert res.depth_mm is not None
    sure = res.confidence > 0.3
    err = np.abs(res.depth_mm[sure] - st.depth_mm[sure])
    assert np.median(err) < 10.0  # mm, planes 100 mm apart, frames 50 mm apart
