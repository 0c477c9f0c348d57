"""One training sample, a pure function of the dataset's configuration and its index.

:class:`GenerationConfig` is everything ``psfbench dataset generate`` was asked for (PSF,
sources with their SHA-256, count, seed, focus range, options); :func:`make_sample` renders
sample ``index`` from it alone: a generator seeded with ``(seed, index)`` picks the scene seed,
the focus depth, the shuffle permutation, the crop and the noise, in that order, so any sample
is regenerated bit-identically (same software versions and device type) without the others.

A sample is the defocused image (8- or 16-bit PNG), its per-pixel sigma map (the Gaussian
PSF's standard deviation in pixels, float32 ``.npy``, exactly the map it was rendered with),
the scene's depth map (float32 mm, NaN holes) and a JSON of its parameters and provenance.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from psfbench.core.datagen.psf import DatagenError, PsfSpec
from psfbench.core.datagen.sources import Sources, sources_from_json

FORMAT = "psfbench.defocus-dataset/1"
METHODS = ("layered", "scatter")
SAMPLINGS = ("inverse", "linear")
#: Digits of a sample key (up to 10^10 samples).
KEY_DIGITS = 10


def sample_key(index: int) -> str:
    return f"{index:0{KEY_DIGITS}d}"


def software_versions() -> dict[str, str]:
    """Versions that decide a sample's bits (recorded with every sample)."""
    import cv2
    import torch

    from psfbench.core import __version__

    return {
        "psfbench": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
    }


@dataclass(frozen=True)
class GenerationConfig:
    """What a dataset is made of; JSON-serialisable (``dataset.json``), and two runs with
    equal configurations make identical datasets.

    ``focus_range_mm``: (near, far) focus depths Df sampled per sample, None = each scene's
    own depth range; ``focus_sampling``: "inverse" (uniform in 1/Df, i.e. in lens travel, as
    a focus sweep samples) or "linear" (uniform in Df). ``shuffle``: the histogram-invariant
    spatial shuffle of the source image (core/datagen/shuffle.py). ``method``: "layered"
    (fast) or "scatter" (paper-exact eq. 8) renderer. ``noise_sd``: Gaussian noise, fraction of
    full scale. ``crop``: (H, W) window cut at random from the rendered frame (None: whole).
    ``device``: torch device the samples are rendered on (bits differ between CPU and CUDA).
    ``psf_model``: None (the paper's Gaussian, eqs. 5-8, through ``method``'s renderer) or a
    :class:`psfbench.core.psfmodels.PsfModel` JSON (``to_json()``): the samples are blurred
    with that model's kernel (:func:`psfbench.core.psfmodels.blur`, energy-conserving layered
    scatter; ``method`` is then unused), the sigma map still ``psf.A`` through eqs. 5-6 (the
    model's second moment). Left out of ``to_json`` when None, so Gaussian datasets keep
    their bytes.
    """

    psf: PsfSpec
    sources: Sources
    count: int
    shard_size: int = 256
    seed: int = 0
    focus_range_mm: tuple[float, float] | None = None
    focus_sampling: str = "inverse"
    shuffle: bool = False
    method: str = "layered"
    noise_sd: float = 0.0
    bit_depth: int = 8
    crop: tuple[int, int] | None = None
    store_depth: bool = True
    device: str = "cpu"
    psf_model: dict[str, Any] | None = None

    def validate(self) -> None:
        """Raise DatagenError for a configuration that cannot be generated."""
        self.psf.validate()
        if self.count < 1:
            raise DatagenError("--count: need at least 1 sample")
        if self.shard_size < 1:
            raise DatagenError("--shard-size: need at least 1 sample per shard")
        if not 0 <= self.seed < 2**63:
            raise DatagenError("--seed: need 0 <= seed < 2^63")
        if self.focus_range_mm is not None:
            near, far = self.focus_range_mm
            if not (math.isfinite(near) and math.isfinite(far) and self.psf.F_mm < near <= far):
                raise DatagenError(
                    f"--focus-range: need F ({self.psf.F_mm:g} mm) < NEAR <= FAR, got "
                    f"{near:g} {far:g}"
                )
        if self.focus_sampling not in SAMPLINGS:
            raise DatagenError(f"--focus-sampling: use one of {SAMPLINGS}")
        if self.method not in METHODS:
            raise DatagenError(f"--method: use one of {METHODS}")
        if not (math.isfinite(self.noise_sd) and 0 <= self.noise_sd <= 1):
            raise DatagenError("--noise-sd: need 0 <= sd <= 1 (fraction of full scale)")
        if self.bit_depth not in (8, 16):
            raise DatagenError("--bit-depth: 8 or 16")
        if self.crop is not None and min(self.crop) < 1:
            raise DatagenError("--crop: need a positive HEIGHTxWIDTH")
        if not len(self.sources):
            raise DatagenError("no sources")
        if self.psf_model is not None:
            psf_model_of(self)

    @property
    def n_shards(self) -> int:
        return -(-self.count // self.shard_size)

    def shard_indices(self, shard: int) -> range:
        """Sample indices of shard ``shard`` (fixed by count and shard size alone)."""
        start = shard * self.shard_size
        return range(start, min(start + self.shard_size, self.count))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "psf": self.psf.to_json(),
            "sources": self.sources.to_json(),
            "count": self.count,
            "shard_size": self.shard_size,
            "seed": self.seed,
            "focus_range_mm": None if self.focus_range_mm is None else list(self.focus_range_mm),
            "focus_sampling": self.focus_sampling,
            "shuffle": self.shuffle,
            "method": self.method,
            "noise_sd": self.noise_sd,
            "bit_depth": self.bit_depth,
            "crop": None if self.crop is None else list(self.crop),
            "store_depth": self.store_depth,
            "device": self.device,
        }
        if self.psf_model is not None:
            doc["psf_model"] = self.psf_model
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GenerationConfig:
        """From :meth:`to_json`'s dict; raises DatagenError for another format or bad values."""
        if doc.get("format") != FORMAT:
            raise DatagenError(f"not a {FORMAT} configuration (format {doc.get('format')!r})")
        try:
            fr = doc.get("focus_range_mm")
            crop = doc.get("crop")
            cfg = cls(
                psf=PsfSpec.from_json(doc["psf"]),
                sources=sources_from_json(doc["sources"]),
                count=int(doc["count"]),
                shard_size=int(doc["shard_size"]),
                seed=int(doc["seed"]),
                focus_range_mm=None if fr is None else (float(fr[0]), float(fr[1])),
                focus_sampling=str(doc["focus_sampling"]),
                shuffle=bool(doc["shuffle"]),
                method=str(doc["method"]),
                noise_sd=float(doc["noise_sd"]),
                bit_depth=int(doc["bit_depth"]),
                crop=None if crop is None else (int(crop[0]), int(crop[1])),
                store_depth=bool(doc.get("store_depth", True)),
                device=str(doc.get("device", "cpu")),
                psf_model=doc.get("psf_model"),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, DatagenError):
                raise
            raise DatagenError(f"dataset configuration: {exc!r}") from None
        cfg.validate()
        return cfg


@dataclass(frozen=True)
class Sample:
    """A rendered sample: ``image`` (H, W, C) or (H, W) uint8/uint16, ``sigma`` (H, W)
    float32 px, ``depth`` (H, W) float32 mm (NaN holes), ``params`` its JSON document, and
    ``files``: the encoded members (extension -> bytes) as a shard stores them."""

    key: str
    image: np.ndarray
    sigma: np.ndarray
    depth: np.ndarray
    params: dict[str, Any]
    files: dict[str, bytes]


def check_crop(cfg: GenerationConfig) -> None:
    """Raise DatagenError when ``cfg.crop`` is larger than a source (synthetic scenes' size,
    image headers of a folder): checked before anything is rendered or written."""
    if cfg.crop is None:
        return
    ch, cw = cfg.crop
    for name, (h, w) in cfg.sources.sizes():
        if ch > h or cw > w:
            where = f" {name}" if name else ""
            raise DatagenError(f"--crop {ch}x{cw}: larger than the source{where} ({h}x{w})")


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def psf_model_of(cfg: GenerationConfig) -> Any:
    """The :class:`psfbench.core.psfmodels.PsfModel` of ``cfg.psf_model`` (None: None).
    Raises DatagenError for an invalid model or one whose A is not the PSF's A."""
    if cfg.psf_model is None:
        return None
    from psfbench.core.psfmodels import PsfModel, PsfModelError

    try:
        model = PsfModel.from_json(cfg.psf_model)
    except PsfModelError as exc:
        raise DatagenError(f"PSF model: {exc}") from None
    if not math.isclose(model.A, cfg.psf.A, rel_tol=1e-9, abs_tol=1e-12):
        raise DatagenError(
            f"PSF model: its A ({model.A:g}) differs from the PSF's A ({cfg.psf.A:g})"
        )
    return model


def _png(img: np.ndarray) -> bytes:
    import cv2

    out = img if img.ndim == 2 else np.ascontiguousarray(img[..., ::-1])  # RGB -> BGR
    ok, buf = cv2.imencode(".png", out, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8/uint16 PNG
        raise DatagenError("PNG encoding failed")
    return bytes(buf.tobytes())


def _focus_depth(cfg: GenerationConfig, depth: np.ndarray, u: float) -> tuple[float, list[float]]:
    if cfg.focus_range_mm is not None:
        near, far = cfg.focus_range_mm
    else:
        valid = depth[np.isfinite(depth)]
        near, far = float(valid.min()), float(valid.max())
        if near <= cfg.psf.F_mm:
            raise DatagenError(
                f"scene depths reach {near:g} mm, not beyond F = {cfg.psf.F_mm:g} mm: pass "
                "--focus-range (or check --depth-scale)"
            )
    if cfg.focus_sampling == "inverse":
        df = 1.0 / (1.0 / near + u * (1.0 / far - 1.0 / near))
    else:
        df = near + u * (far - near)
    return float(min(max(df, near), far)), [near, far]


def make_sample(cfg: GenerationConfig, index: int) -> Sample:
    """Render sample ``index`` of ``cfg`` (0 <= index < count); deterministic. Raises
    DatagenError for a source that changed or optics that cannot be rendered."""
    import torch

    from psfbench.core import optics
    from psfbench.core.render import blur_layered, blur_scatter

    if not 0 <= index < cfg.count:
        raise DatagenError(f"sample {index}: outside 0..{cfg.count - 1}")
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
    scene_seed = int(rng.integers(0, 2**31 - 1))
    aif, depth, source = cfg.sources.load(index, scene_seed)
    df, focus_range = _focus_depth(cfg, depth, float(rng.random()))
    if cfg.shuffle:
        from psfbench.core.datagen.shuffle import spatial_shuffle

        aif = spatial_shuffle(aif, rng)
    dev = torch.device(cfg.device)
    depth_t = torch.from_numpy(np.array(depth, dtype=np.float64)).to(dev)
    fd = torch.tensor([df], dtype=torch.float64, device=dev).reshape(-1, 1, 1)
    try:
        sigma_t = optics.sigma_map(depth_t, fd, cfg.psf.A_effective, cfg.psf.F_mm).float()[0]
    except optics.OpticsError as exc:
        raise DatagenError(f"sample {index}: {exc}") from None
    # a copy: folder sources hand out their cached, read-only arrays (sources._load_pair),
    # which a tensor must neither share nor write into
    image_t = torch.from_numpy(np.array(aif, dtype=np.float32, order="C")).to(dev)
    model = psf_model_of(cfg)
    with torch.no_grad():
        if model is None:
            blur = blur_layered if cfg.method == "layered" else blur_scatter
            rendered = blur(image_t, sigma_t, device=dev).clamp_(0.0, 1.0)
        else:
            from psfbench.core.psfmodels import blur as model_blur

            out = model_blur(image_t.cpu().numpy(), sigma_t.cpu().numpy(), model, device=dev)
            rendered = torch.from_numpy(out).to(dev).reshape(image_t.shape).clamp_(0.0, 1.0)
    img = rendered.cpu().numpy()  # (C, H, W) float32
    sigma = sigma_t.cpu().numpy().astype(np.float32)
    depth_out = np.asarray(depth, dtype=np.float32)
    crop_box = None
    if cfg.crop is not None:
        ch, cw = cfg.crop
        h, w = sigma.shape
        if ch > h or cw > w:
            raise DatagenError(f"--crop {ch}x{cw}: larger than the source ({h}x{w})")
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        img, sigma = img[:, y : y + ch, x : x + cw], sigma[y : y + ch, x : x + cw]
        depth_out = depth_out[y : y + ch, x : x + cw]
        crop_box = [y, x, ch, cw]
    if cfg.noise_sd > 0:
        img = img + np.float32(cfg.noise_sd) * rng.standard_normal(img.shape, dtype=np.float32)
    full = 2**cfg.bit_depth - 1
    dtype = np.uint8 if cfg.bit_depth == 8 else np.uint16
    quant = np.round(np.clip(img, 0.0, 1.0) * np.float32(full)).astype(dtype)
    image = quant[0] if quant.shape[0] == 1 else np.ascontiguousarray(np.moveaxis(quant, 0, -1))
    key = sample_key(index)
    params: dict[str, Any] = {
        "key": key,
        "index": index,
        "format": FORMAT,
        "seed": [cfg.seed, index],
        "scene_seed": scene_seed,
        **source,
        "focus_depth_mm": df,
        "focus_range_mm": focus_range,
        "focus_sampling": cfg.focus_sampling,
        "psf": {
            "A": cfg.psf.A_effective,
            "F_mm": cfg.psf.F_mm,
            "fitted_A": cfg.psf.A,
            "scale": cfg.psf.scale,
            "e_mm": cfg.psf.e_mm,
            "fit_sha256": cfg.psf.sha256,
            "model": "sigma_px = A |D - Df| / D * F / (Df - F); Gaussian PSF",
        },
        "renderer": cfg.method,
        "device": dev.type,
        "shuffle": cfg.shuffle,
        "noise_sd": cfg.noise_sd,
        "bit_depth": cfg.bit_depth,
        "crop": crop_box,
        "shape": list(sigma.shape),
        "sigma_px_range": [float(sigma.min()), float(sigma.max())],
        "software": software_versions(),
    }
    if model is not None:
        params["psf"]["model"] = (
            f"sigma_px = A |D - Df| / D * F / (Df - F); {model.name} PSF of that second "
            "moment (psfbench.core.psfmodels)"
        )
        params["psf"]["psf_model"] = model.to_json()
        params["renderer"] = "psfmodels.blur"
    files = {"png": _png(image), "sigma.npy": _npy(sigma)}
    if cfg.store_depth:
        files["depth.npy"] = _npy(depth_out)
    files["json"] = (json.dumps(params, sort_keys=True, allow_nan=False) + "\n").encode()
    return Sample(key, image, sigma, np.ascontiguousarray(depth_out), params, files)
