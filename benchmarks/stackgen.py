"""Focus stacks with ground truth, made independently of psfbench's own scene and render code.

Written for ``benchmarks/stacking.py`` (issue 16) so that the fusion is not judged on stacks
from the code it was developed on. It imports nothing from ``core``: textures are real
photographs bundled with scikit-image (astronaut, camera, chelsea, coffee, rocket, ...; no
downloads), depth layouts are drawn at random, and the optics are written out here.

Physics, per frame n focused at Df_n (thin lens, focal length F):

* every source pixel x at depth D(x) spreads its light as a normalised Gaussian of its own
  sigma_n(x) = A |D(x) - Df_n| / D(x) * F / (Df_n - F)  (the paper's Gaussian PSF in scatter
  form: no occlusion, energy kept), with A set so that the most blurred pixel of the stack has
  the drawn ``sigma_max`` (px);
* scatter is exact up to the sigma quantisation: each pixel's light is split linearly between
  its two nearest sigma layers (0.05 px + 4 % of sigma apart), each layer is blurred with
  its Gaussian and the layers are summed;
* the scene is rendered on a canvas padded by 4 sigma_max and cropped, so light from outside
  the field reaches the borders as it would in a camera;
* optionally in linear light: the photograph is decoded from sRGB, scattered, noised and
  encoded again (``tone="srgb"``), or scattered as stored (``tone="linear"``);
* sensor noise: Poisson shot noise for a drawn full well plus Gaussian read noise, then
  quantisation to 8 or 16 bits.

The true all-in-focus image is the sharp texture in the frames' encoding, noise-free, as
float in [0, 1]. Depth layouts: ``tilted`` (a plane at a random tilt), ``discs`` (a plate with
raised discs of another photograph), ``steps`` (a staircase in a random direction, one texture
per step or one for all), ``smooth`` (a smooth surface: a sum of broad bumps) and ``blocks``
(rectangular blocks of other photographs at several heights on a tilted base).

Run ``.venv/bin/python benchmarks/stackgen.py OUT --count 10`` to write stacks as PNG
folders (``frame_00.png``..., ``aif.png``, ``depth.npy``, ``meta.json``); the seed is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

KINDS = ("tilted", "discs", "steps", "smooth", "blocks")
#: scikit-image's bundled photographs (shipped in its wheel; nothing is downloaded)
PHOTOS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "page",
    "text",
    "clock",
    "cell",
    "retina",
)
F_MM = 50.0


@dataclass
class GenStack:
    """One generated stack: frames as stored on disk and the truth behind them."""

    name: str
    kind: str
    frames: np.ndarray  # (N, H, W, 3) uint8 or uint16, as written to disk
    aif: np.ndarray  # (3, H, W) float32 in [0, 1]: the true all-in-focus image, noise-free
    depth_mm: np.ndarray  # (H, W) float32
    focus_mm: np.ndarray  # (N,) focus depth of each frame
    A: float
    sigma_max: float
    meta: dict = field(default_factory=dict)
    #: (N, H, W, 3) float32 frames before noise and quantisation (``keep_clean=True`` only)
    clean: np.ndarray | None = None


# ----------------------------------------------------------------------------- textures
_PHOTO_CACHE: dict[str, np.ndarray] = {}


def photo(name: str) -> np.ndarray:
    """(H, W, 3) float32 [0, 1] sRGB-encoded photograph from scikit-image's bundled data."""
    if name not in _PHOTO_CACHE:
        import skimage.data

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = np.asarray(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        _PHOTO_CACHE[name] = img.astype(np.float32) / 255.0
    return _PHOTO_CACHE[name]


def texture(rng: np.random.Generator, h: int, w: int, exclude: str = "") -> tuple[np.ndarray, str]:
    """A random crop of a random photograph, scaled to cover (h, w), maybe flipped/tinted."""
    name = str(rng.choice([p for p in PHOTOS if p != exclude]))
    img = photo(name)
    ph, pw = img.shape[:2]
    # zoom: from half the canvas (denser detail; mirrored to cover it) to 1.6x magnified
    zoom = max(h / ph, w / pw) * float(rng.uniform(0.5, 1.6))
    size = (max(8, round(pw * zoom)), max(8, round(ph * zoom)))
    interp = cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC
    big = np.clip(cv2.resize(img, size, interpolation=interp), 0, 1)
    while big.shape[0] < h or big.shape[1] < w:
        py, px = max(0, h - big.shape[0]), max(0, w - big.shape[1])
        py, px = min(py, big.shape[0] - 1), min(px, big.shape[1] - 1)
        big = cv2.copyMakeBorder(big, 0, py, 0, px, cv2.BORDER_REFLECT)
    y0 = int(rng.integers(0, big.shape[0] - h + 1))
    x0 = int(rng.integers(0, big.shape[1] - w + 1))
    tex = big[y0 : y0 + h, x0 : x0 + w]
    if rng.random() < 0.5:
        tex = tex[:, ::-1]
    if name in ("camera", "moon", "brick", "grass", "gravel", "page", "text", "clock", "cell"):
        tint = rng.uniform(0.75, 1.0, 3).astype(np.float32)  # a grey photo on a coloured object
        tex = tex * tint
    # contrast/brightness of the object (a real surface is rarely full-range)
    lo, hi = sorted(rng.uniform(0.03, 0.95, 2))
    if hi - lo < 0.4:
        lo, hi = max(0.02, lo - 0.2), min(0.97, hi + 0.2)
    return np.ascontiguousarray(lo + (hi - lo) * tex, np.float32), name


# ----------------------------------------------------------------------------- depth layouts
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return (x - w / 2) / max(h, w), (y - h / 2) / max(h, w)  # about -0.5..0.5


def layout(
    kind: str, rng: np.random.Generator, h: int, w: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(depth in [0, 1] (0 nearest), texture (H, W, 3), photo names) for one scene kind."""
    x, y = _grid(h, w)
    base_tex, name = texture(rng, h, w)
    names = [name]
    tex = base_tex.copy()
    theta = float(rng.uniform(0, 2 * np.pi))
    u = x * np.cos(theta) + y * np.sin(theta)  # a random direction across the field
    if kind == "tilted":
        z = u - u.min()
    elif kind == "smooth":
        z = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(3, 7))):
            cx, cy = rng.uniform(-0.5, 0.5, 2)
            s = float(rng.uniform(0.12, 0.35))
            z += float(rng.uniform(-1, 1)) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s))
        z += float(rng.uniform(-0.5, 0.5)) * u
    elif kind == "steps":
        k = int(rng.integers(3, 7))
        edges = np.sort(rng.uniform(u.min(), u.max(), k - 1))
        level = np.searchsorted(edges, u).astype(np.float32)
        heights = rng.permutation(k).astype(np.float32) if rng.random() < 0.3 else np.arange(k)
        z = heights[level.astype(int)].astype(np.float32)
        if rng.random() < 0.6:  # each step its own material
            for i in range(1, k):
                t, nm = texture(rng, h, w, exclude=names[-1])
                m = level == i
                tex[m] = t[m]
                names.append(nm)
    elif kind == "discs":
        z = 0.3 * (u - u.min()) / max(float(np.ptp(u)), 1e-6) + 1.0  # the plate, far, tilted
        for _ in range(int(rng.integers(3, 8))):
            cx, cy = rng.uniform(-0.42, 0.42, 2)
            r = float(rng.uniform(0.05, 0.16))
            height = float(rng.uniform(0.3, 1.0))
            m = (x - cx) ** 2 + (y - cy) ** 2 < r * r
            z[m] = np.minimum(z[m], 1.0 - height + 0.05 * float(rng.random()))
            t, nm = texture(rng, h, w, exclude=names[0])
            tex[m] = t[m]
            names.append(nm)
    elif kind == "blocks":
        z = 0.4 * (u - u.min()) / max(float(np.ptp(u)), 1e-6) + 0.8
        for _ in range(int(rng.integers(2, 6))):
            cx, cy = rng.uniform(-0.4, 0.4, 2)
            bw, bh = rng.uniform(0.08, 0.3, 2)
            m = (np.abs(x - cx) < bw / 2) & (np.abs(y - cy) < bh / 2)
            z[m] = float(rng.uniform(0.0, 0.8))
            t, nm = texture(rng, h, w, exclude=names[0])
            tex[m] = t[m]
            names.append(nm)
    else:
        raise ValueError(f"unknown layout {kind!r}; choose one of {KINDS}")
    z = z - z.min()
    z = z / max(float(z.max()), 1e-6)
    return z.astype(np.float32), tex, names


# ----------------------------------------------------------------------------- optics
def sigma_px(depth_mm: np.ndarray, focus_mm: float, A: float, F: float = F_MM) -> np.ndarray:
    """The paper's thin-lens Gaussian: sigma = A |D - Df| / D * F / (Df - F)."""
    return A * np.abs(depth_mm - focus_mm) / depth_mm * F / (focus_mm - F)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    r = max(1, math.ceil(4 * sigma))
    out = cv2.GaussianBlur(img, (2 * r + 1, 2 * r + 1), sigma, borderType=cv2.BORDER_REFLECT)
    return out.reshape(img.shape)


def sigma_layers(sigma_max: float) -> np.ndarray:
    """Layer sigmas from 0 to >= sigma_max, 0.05 px + 4 % of sigma apart (56 dB from exact
    scatter on a random per-pixel sigma map, measured against a direct sum of Gaussians)."""
    out = [0.0]
    while out[-1] < sigma_max:
        out.append(out[-1] + 0.05 + 0.04 * out[-1])
    return np.array(out, np.float64)


def scatter(radiance: np.ndarray, sigma: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """(H, W, C) light, each pixel spread by a normalised Gaussian of its own (H, W) sigma."""
    s = np.clip(sigma, 0, layers[-1])
    k = np.clip(np.searchsorted(layers, s, side="right") - 1, 0, len(layers) - 2)
    lo, hi = layers[k], layers[k + 1]
    t = ((s - lo) / (hi - lo)).astype(np.float32)
    out = np.zeros_like(radiance)
    for i in np.unique(np.concatenate([k, k + 1])):
        w = np.where(k == i, 1 - t, 0) + np.where(k + 1 == i, t, 0)
        if not w.any():
            continue
        out += _blur(radiance * w[..., None].astype(np.float32), float(layers[i]))
    return out


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


# ----------------------------------------------------------------------------- stacks
def make_stack(
    rng: np.random.Generator,
    *,
    name: str = "stack",
    kind: str | None = None,
    size: tuple[int, int] = (512, 512),
    n_frames: int | None = None,
    sigma_max: float | None = None,
    full_well: float | None = None,
    read_noise: float | None = None,
    bits: int = 8,
    tone: str | None = None,
    keep_clean: bool = False,
) -> GenStack:
    """One random stack; every argument left None is drawn from ``rng``.

    Draws: layout among :data:`KINDS`, 8..16 frames, sigma_max 4..12 px, full well
    2000..30000 e- (shot noise 0.6..2.2 % of full scale at mid grey) and read noise 1..8 e-,
    tone linear or sRGB, working distance 200..600 mm with a depth range of 4..20 % of it;
    focus depths evenly spaced in dioptres over the scene's range (+- a small margin).
    """
    kind = str(rng.choice(KINDS)) if kind is None else kind
    n = int(rng.integers(8, 17)) if n_frames is None else n_frames
    smax = float(rng.uniform(4.0, 12.0)) if sigma_max is None else sigma_max
    fw = float(np.exp(rng.uniform(np.log(2000), np.log(30000)))) if full_well is None else full_well
    rn = float(rng.uniform(1.0, 8.0)) if read_noise is None else read_noise
    tone = str(rng.choice(["linear", "srgb"])) if tone is None else tone
    h, w = size
    pad = math.ceil(4 * smax) + 2
    H, W = h + 2 * pad, w + 2 * pad
    for _ in range(20):  # a layout whose depth changes inside the field (not only in the pad)
        z, tex, names = layout(kind, rng, H, W)
        if float(np.ptp(z[pad:-pad, pad:-pad])) > 0.05:
            break
    wd = float(rng.uniform(200, 600))
    rel = float(rng.uniform(0.04, 0.2))
    depth = (wd * (1 + rel * z)).astype(np.float32)
    d_near, d_far = float(depth.min()), float(depth.max())
    inner = depth[pad:-pad, pad:-pad]
    lo_f, hi_f = 1 / float(inner.max()), 1 / float(inner.min())  # dioptres over the field
    margin = float(rng.uniform(-0.05, 0.1)) * (hi_f - lo_f)
    dio = np.linspace(hi_f + margin, lo_f - margin, n)  # near to far
    focus = (1.0 / dio).astype(np.float64)
    unit = np.stack([sigma_px(depth, float(f), 1.0) for f in focus])
    A = smax / float(unit[:, pad:-pad, pad:-pad].max())
    layers = sigma_layers(smax * float(unit.max()) / float(unit[:, pad:-pad, pad:-pad].max()))
    radiance = srgb_to_linear(tex) if tone == "srgb" else tex
    dtype = np.uint8 if bits == 8 else np.uint16
    top = float(np.iinfo(dtype).max)
    frames = np.empty((n, h, w, 3), dtype)
    clean = np.empty((n, h, w, 3), np.float32) if keep_clean else None
    for i in range(n):
        img = scatter(radiance, A * unit[i], layers)[pad:-pad, pad:-pad]
        if clean is not None:
            clean[i] = linear_to_srgb(img) if tone == "srgb" else np.clip(img, 0, 1)
        electrons = rng.poisson(np.clip(img, 0, None) * fw).astype(np.float32)
        noisy = (electrons + rng.normal(0, rn, img.shape).astype(np.float32)) / fw
        out = linear_to_srgb(noisy) if tone == "srgb" else np.clip(noisy, 0, 1)
        frames[i] = np.round(out * top).astype(dtype)
    aif = np.ascontiguousarray(tex[pad:-pad, pad:-pad].transpose(2, 0, 1))
    meta = dict(
        kind=kind,
        photos=names,
        frames=n,
        sigma_max_px=round(smax, 2),
        A=round(A, 2),
        working_distance_mm=round(wd, 1),
        depth_range_mm=[round(d_near, 1), round(d_far, 1)],
        focus_mm=[round(float(f), 2) for f in focus],
        full_well_e=round(fw),
        read_noise_e=round(rn, 2),
        tone=tone,
        bits=bits,
        size=[h, w],
    )
    return GenStack(
        name=name,
        kind=kind,
        frames=frames,
        aif=aif.astype(np.float32),
        depth_mm=inner.astype(np.float32),
        focus_mm=focus,
        A=A,
        sigma_max=smax,
        meta=meta,
        clean=clean,
    )


def make_stacks(seed: int, count: int, *, kinds: tuple[str, ...] | None = None, **kw) -> list:
    """``count`` stacks from one seed; layouts cycle through ``kinds`` (all by default) so
    every kind appears, everything else is drawn per stack."""
    rng = np.random.default_rng(seed)
    kinds = kinds or KINDS
    order = [kinds[i % len(kinds)] for i in range(count)]
    rng.shuffle(order)
    return [make_stack(rng, name=f"{i:02d}_{k}", kind=k, **kw) for i, k in enumerate(order)]


def write_stack(stack: GenStack, folder: Path) -> list[str]:
    """PNG frames (RGB, the stack's bit depth), the truth and a meta.json; returns the frames'
    paths in sweep order (near to far)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, f in enumerate(stack.frames):
        p = folder / f"frame_{i:02d}.png"
        cv2.imwrite(str(p), np.ascontiguousarray(f[..., ::-1]))
        paths.append(str(p))
    top = float(np.iinfo(stack.frames.dtype).max)
    truth = np.round(stack.aif.transpose(1, 2, 0)[..., ::-1] * top).astype(stack.frames.dtype)
    cv2.imwrite(str(folder / "aif.png"), np.ascontiguousarray(truth))
    np.save(folder / "depth.npy", stack.depth_mm)
    meta = {k: v for k, v in asdict(stack).items() if k in ("name", "kind", "A", "sigma_max")}
    (folder / "meta.json").write_text(json.dumps({**meta, **stack.meta}, indent=1))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, help="default: drawn, and printed")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    ap.add_argument("--bits", type=int, choices=(8, 16), default=8)
    args = ap.parse_args()
    seed = int(np.random.SeedSequence().entropy % 2**31) if args.seed is None else args.seed
    print(f"seed {seed}")
    for st in make_stacks(seed, args.count, size=tuple(args.size), bits=args.bits):
        write_stack(st, args.out / st.name)
        print(st.name, json.dumps(st.meta))


if __name__ == "__main__":
    main()
