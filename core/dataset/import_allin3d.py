"""Importer (b): the authors' public "All-in-3D" layout (one view per session).

Layout, with ``_k`` an optional downscale suffix (``focus_4``, ``depth_4``, ``AIF_4``)::

    focus[_k]/NNN/<frames numbered by trailing digits>.png|jpg|bmp  + focus[_k]/NNN/fd.npy
    depth[_k]/depthNNN.npy          AIF[_k]/imageNNN.png

(an older flat variant, frames and ``fd.npy`` directly in ``focus[_k]/``, is read too).

Units, established from their ``load_allin3d.py``: ``fd.npy`` holds focus depths in mm,
computed as ``1 / (1/50 - 1/(v + 23.6))`` from the sensor readings v (mm); the depth maps are
in mm as well. Their older loader divides *both* by 1000 (metres for their NeRF), the newer
one uses both as stored, so the /1000 is a unit change applied equally, not a mm/um hint. A
depth or fd that lies inside the focal length is taken as a unit error and refused (pass
``depth_scale``/``fd_scale`` = 1000 for metre-valued copies). Zeros in the depth map (masked
pixels) become NaN.

The focus depths Df are stored per record (``focus_depth_mm``). The sweep's d is not
measured here: d = F Df / (Df - F) - e with their e = 23.6 mm and F = 50 mm is stored as
``d_mm`` (it is their raw sensor reading v) and ``meta.implied_d`` says so. With Df given, the
mechanical offset e is not identifiable from these data: fit A with Df, not e.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.image_files import (
    bit_depth_of,
    frame_number,
    read_depth_file,
    read_image,
    read_npy,
)
from psfbench.core.dataset.schema import (
    Camera,
    ImpliedDistance,
    Lens,
    PlannedStep,
    Provenance,
    SessionMeta,
    SweepPlan,
)
from psfbench.core.dataset.session import Session
from psfbench.core.dataset.staging import staged_session
from psfbench.core.imageio import is_image_file

#: Their e (mm) and F (mm), from fd = 1/(1/50 - 1/(v + 23.6)).
ALLIN3D_E_MM = 23.6
ALLIN3D_F_MM = 50.0


def _frames_and_fd(focus_dir: Path, view: str, root: Path) -> tuple[list[Path], Path]:
    if not focus_dir.is_dir():
        raise DatasetError(focus_dir, "(folder)", "focus folder is missing")
    view_dir = focus_dir / view
    frames_dir = view_dir if view_dir.is_dir() else focus_dir
    frames = [p for p in frames_dir.iterdir() if is_image_file(p) and "simu" not in p.name]
    if not frames:
        raise DatasetError(view_dir, "(folder)", "no focus frames (png/jpg/bmp) for this view")
    frames.sort(key=frame_number)
    numbers = [frame_number(p) for p in frames]
    if len(set(numbers)) != len(numbers):
        raise DatasetError(frames_dir, "name", "two frames share a frame number")
    for cand in (frames_dir / "fd.npy", focus_dir / "fd.npy", root / "fd.npy"):
        if cand.is_file():
            return frames, cand
    raise DatasetError(frames_dir / "fd.npy", "(file)", "focus depths fd.npy are missing")


def _pick(folder: Path, preferred: str, suffixes: tuple[str, ...], what: str) -> Path:
    if (folder / preferred).is_file():
        return folder / preferred
    if not folder.is_dir():
        raise DatasetError(folder / preferred, "(file)", f"{what} is missing")
    cands = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())
    cands = [p for p in cands if "mask" not in p.stem]
    if len(cands) == 1:
        return cands[0]
    raise DatasetError(
        folder / preferred, "(file)", f"{what} is missing ({len(cands)} other candidates)"
    )


def import_allin3d(
    root: str | Path,
    out_dir: str | Path,
    *,
    factor: int | None = None,
    view: int = 0,
    e_mm: float = ALLIN3D_E_MM,
    focal_length_mm: float = ALLIN3D_F_MM,
    f_number: float | None = 1.4,
    pixel_size_mm: float = 0.00345,
    depth_file: str | None = None,
    depth_scale: float = 1.0,
    fd_scale: float = 1.0,
) -> Session:
    """One All-in-3D view as a session in ``out_dir``; returns it opened.

    Defaults are the paper's camera (Manta G-505, 3.45 um pixels; 50 mm f/1.4 lens);
    ``factor`` k selects the ``_k`` folders and becomes the output scale s. The session is
    built out of sight and moved into place when complete: a failed import leaves nothing.
    """
    base = Path(root)
    sfx = f"_{factor}" if factor else ""
    vname = f"{view:03d}"
    frames, fd_path = _frames_and_fd(base / f"focus{sfx}", vname, base)
    fd = read_npy(fd_path, "fd").astype(np.float64).reshape(-1) * fd_scale
    if fd.size != len(frames):
        raise DatasetError(fd_path, "length", f"{fd.size} focus depths for {len(frames)} frames")
    if not np.all(np.isfinite(fd)):
        raise DatasetError(fd_path, "fd", "contains NaN or inf")
    if np.any(fd <= focal_length_mm):
        raise DatasetError(
            fd_path,
            "fd",
            f"focus depth {fd.min():.4g} is not beyond F = {focal_length_mm} mm "
            "(metres instead of mm? pass fd_scale=1000; CLI: --fd-scale 1000)",
        )
    depth_dir = base / f"depth{sfx}"
    depth_path = (
        depth_dir / depth_file
        if depth_file
        else _pick(depth_dir, f"depth{vname}.npy", (".npy",), "depth map")
    )
    depth = read_depth_file(depth_path, depth_scale)
    med = float(np.nanmedian(depth))
    if med <= focal_length_mm:
        raise DatasetError(
            depth_path,
            "depth",
            f"median depth {med:.4g} is inside F = {focal_length_mm} mm "
            "(metres instead of mm? pass depth_scale=1000; CLI: --depth-scale 1000)",
        )
    aif_path = _pick(
        base / f"AIF{sfx}", f"image{vname}.png", (".png", ".jpg", ".bmp", ".tif"), "AIF image"
    )
    aif = read_image(aif_path)
    first = read_image(frames[0])
    for path, arr in ((aif_path, aif.shape), (depth_path, depth.shape)):
        if arr[:2] != first.shape[:2] or (path == aif_path and aif.shape != first.shape):
            raise DatasetError(path, "shape", f"{arr} differs from the frames' {first.shape}")

    from psfbench.core.optics import sensor_distance

    d_implied = sensor_distance(fd, focal_length_mm) - e_mm
    meta = SessionMeta(
        camera=Camera(
            model="Allied Vision Manta G-505 (All-in-3D)",
            pixel_size_mm=pixel_size_mm,
            bit_depth=bit_depth_of(first),
            pixel_format="RGB8" if first.ndim == 3 else "Mono8",
        ),
        lens=Lens(focal_length_mm=focal_length_mm, f_number=f_number),
        output_scale=float(factor or 1),
        plan=SweepPlan(
            kind="imported",
            steps=[PlannedStep(index=i, target_focus_depth_mm=float(f)) for i, f in enumerate(fd)],
        ),
        provenance=Provenance(source=f"import_allin3d({base}, factor={factor}, view={view})"),
        implied_d=ImpliedDistance(
            e_mm=e_mm,
            focal_length_mm=focal_length_mm,
            reason="All-in-3D gives focus depths Df (fd.npy); d_mm = F Df/(Df - F) - e is "
            "implied, not measured, so e is not identifiable from this session",
        ),
    )
    with staged_session(out_dir, meta) as w:
        for i, path in enumerate(frames):
            img = first if i == 0 else read_image(path)
            if img.shape != first.shape or img.dtype != first.dtype:
                raise DatasetError(path, "shape", f"{img.shape} differs from {first.shape}")
            w.write_frame(
                i,
                img,
                {
                    "focus_depth_mm": float(fd[i]),
                    "d_mm": float(d_implied[i]),
                    "device_state": {"source_file": path.name},
                },
            )
        w.write_depth(depth)
        w.write_aif(aif)
    return Session.open(out_dir)
