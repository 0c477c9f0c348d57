"""A per-pixel defocus (sigma) map from one image: sliding-window patch estimates, refined.

``single-image-deep-defocus-estimation.md`` sec. 3.2-3.3:

1. Patches of the model's size on a ``stride`` grid (the seed: 8 px; the last row/column of
   windows is aligned with the image border so every pixel is covered) are classified; each
   patch's estimate O_p is given to all its pixels and a pixel's coarse value is the mean over
   the patches that hold it (eq. 6). O_p is the softmax-weighted mean sigma of the levels
   (``estimate="expected"``, default: continuous, lower error) or the most likely level's sigma
   (``"argmax"``, the seed's).
2. The coarse map is refined with the weighted guided filter on an edge-aware smoothed guide
   (:func:`psfbench.core.defocus.guided.refine_map`; r = 16, eps = 0.005, 7 guide passes).

Sigma is in pixels of the image given, in the convention of the PSF model the network was
trained for (the model's JSON says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from psfbench.core.defocus.guided import refine_map
from psfbench.core.defocus.model import (
    DefocusModel,
    DefocusModelError,
    argmax_sigma,
    expected_sigma,
    normalise_patches,
)
from psfbench.core.defocus.patches import grey01

ESTIMATES = ("expected", "argmax")


@dataclass
class DefocusMap:
    """``coarse`` (H, W) float32 px, eq. 6's patch average; ``sigma`` (H, W) float32 px, the
    refined map (== coarse when refinement is off); ``patches`` how many windows were
    classified."""

    coarse: np.ndarray
    sigma: np.ndarray
    patches: int


def window_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Start offsets of windows of ``patch`` px every ``stride`` px along ``length`` px, the
    last one moved to end at the border (so every pixel is covered)."""
    starts = np.arange(0, length - patch + 1, stride)
    if starts[-1] != length - patch:
        starts = np.append(starts, length - patch)
    return starts


@torch.no_grad()
def patch_estimates(
    grey: np.ndarray,
    model: DefocusModel,
    *,
    stride: int = 8,
    estimate: str = "expected",
    batch: int = 1024,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ys, xs, values): window starts along y and x and the (len(ys), len(xs)) float32 sigma
    estimate of each window of the (H, W) float32 image ``grey``."""
    spec = model.spec
    p = spec.patch
    h, w = grey.shape
    if h < p or w < p:
        raise DefocusModelError(f"image {h}x{w} is smaller than the model's {p}x{p} patches")
    if stride < 1:
        raise DefocusModelError("--stride: need at least 1 px")
    if estimate not in ESTIMATES:
        raise DefocusModelError(f"estimate: one of {ESTIMATES}")
    ys, xs = window_starts(h, p, stride), window_starts(w, p, stride)
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(grey, (p, p))
    dev = torch.device(device)
    net = model.net.to(dev).eval()
    to_sigma = expected_sigma if estimate == "expected" else argmax_sigma
    out = np.empty((len(ys), len(xs)), np.float32)
    rows_per_batch = max(1, batch // len(xs))
    for i in range(0, len(ys), rows_per_batch):
        rows = ys[i : i + rows_per_batch]
        chunk = np.ascontiguousarray(windows[rows][:, xs]).reshape(-1, 1, p, p)
        logits = net(normalise_patches(torch.from_numpy(chunk).to(dev)))
        vals = to_sigma(logits, spec).cpu().numpy().reshape(len(rows), len(xs))
        out[i : i + len(rows)] = vals
    return ys, xs, out


def spread_estimates(
    shape: tuple[int, int], patch: int, ys: np.ndarray, xs: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """Eq. 6: each pixel's mean of the estimates of the windows that hold it; (H, W) float32."""
    h, w = shape
    acc = np.zeros((h, w), np.float64)
    cnt = np.zeros((h, w), np.float64)
    for i, y in enumerate(ys):
        row_acc = np.zeros(w, np.float64)
        row_cnt = np.zeros(w, np.float64)
        for j, x in enumerate(xs):
            row_acc[x : x + patch] += values[i, j]
            row_cnt[x : x + patch] += 1.0
        acc[y : y + patch] += row_acc
        cnt[y : y + patch] += row_cnt
    return (acc / cnt).astype(np.float32)


def estimate_defocus(
    image: np.ndarray,
    model: DefocusModel,
    *,
    stride: int = 8,
    estimate: str = "expected",
    refine: bool = True,
    radius: int = 16,
    eps: float = 0.005,
    guide_iterations: int = 7,
    iterations: int = 1,
    device: str | torch.device = "cpu",
) -> DefocusMap:
    """The defocus map of ``image`` ((H, W) or (H, W, 3), integer or float [0, 1]).

    Raises :class:`DefocusModelError` for an image smaller than a patch or bad options."""
    grey = grey01(image)
    ys, xs, vals = patch_estimates(grey, model, stride=stride, estimate=estimate, device=device)
    coarse = spread_estimates(grey.shape, model.spec.patch, ys, xs, vals)
    if not refine:
        return DefocusMap(coarse, coarse.copy(), int(vals.size))
    dev = torch.device(device)
    g = torch.from_numpy(grey).to(dev, torch.float64)
    c = torch.from_numpy(coarse).to(dev, torch.float64)
    refined = refine_map(
        c, g, r=radius, eps=eps, guide_iterations=guide_iterations, iterations=iterations
    )
    return DefocusMap(coarse, refined.float().cpu().numpy(), int(vals.size))


#: Where a session keeps the defocus maps of its frames: ``SESSION/results/defocus/<frame
#: stem>.tif`` (the GUI's session browser shows it beside the frame).
SESSION_MAPS_DIR = "results/defocus"


def session_map_path(session_dir: str | Path, frame: str | Path) -> Path:
    """The map file of ``frame`` (a frame's path relative to the session, or any path whose
    name is the frame's) in ``session_dir``."""
    return Path(session_dir) / SESSION_MAPS_DIR / (Path(frame).stem + ".tif")


def session_of_frame(image: str | Path) -> Path | None:
    """The session folder of a frame file ``SESSION/frames/NAME`` (a ``session.json`` beside
    ``frames/``), else None."""
    p = Path(image).resolve()
    if p.parent.name == "frames" and (p.parent.parent / "session.json").is_file():
        return p.parent.parent
    return None


def write_float_tiff(path: str | Path, array: np.ndarray, info: dict[str, Any]) -> Path:
    """Write a float32 (H, W) map as a TIFF (atomically) with ``info`` as JSON in its
    ImageDescription."""
    import json

    import tifffile

    from psfbench.core.dataset.atomic import atomic_write_with

    arr = np.ascontiguousarray(array, dtype=np.float32)
    desc = json.dumps(info, sort_keys=True, allow_nan=False)
    return atomic_write_with(
        Path(path),
        lambda fh: tifffile.imwrite(
            fh, arr, photometric="minisblack", description=desc, metadata=None
        ),
    )


def read_map_info(path: str | Path) -> dict[str, Any]:
    """The JSON :func:`write_float_tiff` put in a map's ImageDescription ({} if none)."""
    import json

    import tifffile

    with tifffile.TiffFile(path) as tf:
        desc = str(getattr(tf.pages[0], "description", "")) if tf.pages else ""
    try:
        doc = json.loads(desc) if desc else {}
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}
