"""Which all-in-focus image a session's fit uses: the captured shot, one synthesised from the
sweep, or a file.

The paper gets its all-in-focus image either from a minimum-aperture shot or by fusing the focus
sweep, and finds the fused one closer to the scene (no diffraction, no exposure change, no
aperture-dependent vignetting). A lab that skips the shot, or whose lens cannot stop down far
enough, still needs a fit: "synthesise all-in-focus from this sweep" makes one from the frames
the fit already has, stores it in the session's results (so the fit can be repeated and
audited), and hands it to the fitter on the frames' own pixel grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from psfbench.core.dataset import DatasetError, Session, layout
from psfbench.core.dataset.tiff_io import channels_first, to_float01

SYNTH_NAME = "aif_synthesised.tif"
AifKind = Literal["captured", "synthesised", "file"]


@dataclass
class AifSource:
    image: np.ndarray  # (C, H, W) float32 [0, 1], what the fit uses
    kind: AifKind
    path: Path
    frames_used: int = 0  # sweep frames fused (synthesised only)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "synthesised":
            return (
                f"synthesised from {self.frames_used} sweep frames in {self.seconds:.1f} s "
                f"-> {self.path}"
            )
        return f"{self.kind}: {self.path}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.kind, "path": str(self.path), "frames_used": self.frames_used}


def synthesise_into_session(
    session: Session, *, align: bool = True, device: str = "cpu", **kwargs: Any
) -> AifSource:
    """Fuse every sweep frame of ``session`` and store the result as results/aif_synthesised.tif
    at the session's bit depth; the returned image is the stored one (quantised alike)."""
    import time

    from psfbench.core.stacking.io import from_float, write_image
    from psfbench.core.stacking.pipeline import synthesize_aif_from_session

    t0 = time.perf_counter()
    first = session.frame(session.indices[0])
    res = synthesize_aif_from_session(session, align=align, depth=False, device=device, **kwargs)
    bits = int(session.meta.camera.bit_depth)
    top = float(2**bits - 1) if np.issubdtype(first.dtype, np.integer) else None
    stored = from_float(res.aif, first.dtype, top)
    out = session.path / layout.RESULTS_DIR / SYNTH_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    warnings = list(res.warnings) + write_image(out, stored)
    image = _as_session_float(stored, session, out)
    return AifSource(
        image,
        "synthesised",
        out,
        frames_used=len(session.indices),
        seconds=time.perf_counter() - t0,
        warnings=warnings,
    )


def _as_session_float(img: np.ndarray, session: Session, path: Path) -> np.ndarray:
    """Stored/decoded image -> (C, H, W) float [0, 1] on the session's intensity scale."""
    bits = int(session.meta.camera.bit_depth) if img.dtype != np.uint8 else 8
    return channels_first(to_float01(img, bits, str(path), "aif"))


def load_aif_file(session: Session, path: str | Path) -> AifSource:
    """An all-in-focus image made elsewhere (e.g. ``psfbench stack``) for this session.

    16-bit files are read on the session's bit depth, as ``psfbench stack --session`` writes
    them; 8-bit files on 255. The image must be on the frames' pixel grid: same size and
    channels, or a fit would compare misregistered pixels without any error.
    """
    from psfbench.core import imageio

    p = Path(path)
    try:
        raw = imageio.read_image(p)
        rng = imageio.finite_range([raw]) if raw.dtype.kind == "f" else None
        if rng is not None:  # a float file by its real range (counts stay counts)
            raw = raw / np.float32(imageio.float_full_scale(*rng, p))
    except imageio.ImageFileError as exc:
        raise DatasetError(p, "aif", exc.message) from None
    image = _as_session_float(raw, session, p)
    frame = channels_first(session.frame(session.indices[0]))
    if image.shape != frame.shape:
        raise DatasetError(
            p,
            "aif",
            f"shape (C, H, W) {image.shape} differs from the sweep frames' {frame.shape}; "
            "the all-in-focus image must be on the frames' pixel grid",
        )
    return AifSource(image, "file", p)


def resolve_aif(
    session: Session, choice: str = "auto", *, device: str = "cpu", align: bool = True
) -> AifSource:
    """``captured`` | ``synthesised`` | ``auto`` (captured when the session has one) | a path."""
    if choice == "auto":
        choice = "captured" if session.has_aif else "synthesised"
    if choice == "captured":
        if not session.has_aif:
            raise DatasetError(
                session.path / layout.AIF_NAME,
                "aif",
                "this session has no captured all-in-focus image; use --aif synthesised to "
                "fuse one from the sweep",
            )
        return AifSource(session.aif(), "captured", session.path / layout.AIF_NAME)
    if choice == "synthesised":
        return synthesise_into_session(session, device=device, align=align)
    return load_aif_file(session, choice)
