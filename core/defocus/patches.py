"""Training patches cut from rendered samples (the dataset generator's image + sigma map).

The seed paper (``single-image-deep-defocus-estimation.md`` sec. 3.1) blurs sharp 32 x 32
patches with one Gaussian sigma each (0..19 px) and uses sigma as the label. Here the blur comes
from the dataset generator (:mod:`psfbench.core.datagen`), which renders whole scenes through
the lens's PSF model with a per-pixel sigma map; a patch is kept when the map is nearly
constant over it (max - min <= ``max_spread`` px, by default half a level), and its label is
the map's mean over the patch. Patches remember which sample they came from, so the held-out
split can be made by whole samples (no scene in both halves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

#: Rec. 601 luma weights (RGB -> grey), used for training and for mapping alike.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def grey01(image: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8/uint16/float -> (H, W) float32 grey in [0, 1].

    Integers are scaled by their type's full scale; floats are taken as [0, 1] already (values
    outside are clipped). RGB is reduced with Rec. 601 luma weights."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] in (3, 4):
        img = img[..., :3]
    elif img.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    if np.issubdtype(img.dtype, np.integer):
        out = img.astype(np.float32) / np.float32(np.iinfo(img.dtype).max)
    else:
        out = np.clip(np.nan_to_num(img.astype(np.float32)), 0.0, 1.0)
    if out.ndim == 3:
        out = out @ LUMA
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass
class PatchSet:
    """``patches`` (N, P, P) float32 grey [0, 1]; ``sigma`` (N,) float32 px (the sigma map's
    mean over the patch); ``sample`` (N,) int64 index of the sample each came from."""

    patches: np.ndarray
    sigma: np.ndarray
    sample: np.ndarray

    def __len__(self) -> int:
        return int(self.sigma.shape[0])

    def subset(self, mask: np.ndarray) -> PatchSet:
        return PatchSet(self.patches[mask], self.sigma[mask], self.sample[mask])

    @property
    def nbytes(self) -> int:
        return int(self.patches.nbytes + self.sigma.nbytes + self.sample.nbytes)


def cut_patches(
    grey: np.ndarray, sigma: np.ndarray, patch: int, stride: int, max_spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Patches of ``grey`` (H, W) on a ``stride`` grid whose ``sigma`` (H, W) varies by at most
    ``max_spread`` px: ((n, P, P) float32, (n,) float32 mean sigma)."""
    h, w = grey.shape
    if sigma.shape != grey.shape:
        raise ValueError(f"sigma map {sigma.shape} and image {grey.shape} differ in shape")
    if h < patch or w < patch:
        return np.zeros((0, patch, patch), np.float32), np.zeros(0, np.float32)
    from numpy.lib.stride_tricks import sliding_window_view

    ys = np.arange(0, h - patch + 1, stride)
    xs = np.arange(0, w - patch + 1, stride)
    win_s = sliding_window_view(sigma, (patch, patch))[ys][:, xs]
    smax = win_s.max(axis=(-2, -1))
    smin = win_s.min(axis=(-2, -1))
    keep = (smax - smin) <= max_spread
    win_g = sliding_window_view(grey, (patch, patch))[ys][:, xs]
    return (
        np.ascontiguousarray(win_g[keep], dtype=np.float32),
        win_s[keep].mean(axis=(-2, -1)).astype(np.float32),
    )


def collect_patches(
    samples: Iterable[tuple[int, np.ndarray, np.ndarray]],
    *,
    patch: int = 32,
    stride: int = 32,
    max_spread: float = 0.5,
    progress: Callable[[int], None] | None = None,
) -> PatchSet:
    """Patches from ``(index, image, sigma map)`` triples (image as stored: uint8/uint16/
    float, grey or RGB; sigma (H, W) px). ``progress(n_samples_done)`` after each sample."""
    chunks_p: list[np.ndarray] = []
    chunks_s: list[np.ndarray] = []
    chunks_i: list[np.ndarray] = []
    for n, (index, image, sigma) in enumerate(samples, start=1):
        p, s = cut_patches(grey01(image), np.asarray(sigma, np.float32), patch, stride, max_spread)
        chunks_p.append(p)
        chunks_s.append(s)
        chunks_i.append(np.full(len(s), index, dtype=np.int64))
        if progress is not None:
            progress(n)
    if not chunks_p:
        return PatchSet(
            np.zeros((0, patch, patch), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
        )
    return PatchSet(np.concatenate(chunks_p), np.concatenate(chunks_s), np.concatenate(chunks_i))


def level_labels(sigma: np.ndarray, levels: int, step: float) -> np.ndarray:
    """(N,) sigma px -> (N,) int64 level ``round(sigma / step)`` clipped to 0..levels-1."""
    return np.clip(np.rint(np.asarray(sigma) / step), 0, levels - 1).astype(np.int64)
