"""Smoke test on a real focus stack (focus-stack-pcb, downscaled): breathing is found and
undone, and the fused image is sharper than any aligned frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from psfbench.core.stacking.focus_measures import image_sharpness
from psfbench.core.stacking.io import read_image, to_float
from psfbench.core.stacking.pipeline import synthesize_aif
from psfbench.core.stacking.quality import qabf


def test_pcb_stack(shared_data: Path) -> None:
    paths = sorted((shared_data / "focus-stack-pcb").glob("pcb_*.jpg"))
    assert len(paths) == 7
    small = [cv2.resize(read_image(p), (512, 384), interpolation=cv2.INTER_AREA) for p in paths]
    frames = np.stack([to_float(s) for s in small])
    res = synthesize_aif(frames)
    assert res.aif.shape == frames.shape[1:]
    assert res.alignment is not None and not res.warnings
    scales = res.alignment.scales()
    assert np.all(np.diff(scales) < 0)  # magnification changes monotonically along the sweep
    assert 0.005 < scales.max() - scales.min() < 0.08
    sharp = image_sharpness(res.aif)
    assert sharp > max(image_sharpness(f) for f in frames)
    # fused keeps more of the (aligned) sources' edges than any one of them does
    q_fused = qabf(list(res.aligned), res.aif)
    assert all(q_fused > qabf(list(res.aligned), f) for f in res.aligned)
