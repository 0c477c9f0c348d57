"""PLY point-cloud export (binary little-endian), readable by MeshLab, CloudCompare, Open3D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def write_ply(
    path: Path | str,
    points: NDArray[np.floating],
    colors: NDArray[np.generic] | None = None,
) -> int:
    """Write the finite points of ``points`` ((H, W, 3) or (N, 3), mm) with optional per-point
    grey or RGB ``colors`` (uint8, or floats in [0, 1]); returns the number written."""
    pts = np.asarray(points, np.float32).reshape(-1, 3)
    keep = np.all(np.isfinite(pts), axis=1)
    pts = pts[keep]
    cols = None
    if colors is not None:
        c = np.asarray(colors)
        if c.dtype != np.uint8:
            c = np.clip(np.rint(c.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        c = (
            c.reshape(-1, 3)
            if c.ndim >= 2 and c.shape[-1] == 3
            else np.repeat(c.reshape(-1, 1), 3, axis=1)
        )
        if len(c) != len(keep):
            raise ValueError(f"{len(c)} colours for {len(keep)} points")
        cols = c[keep]
    header = [
        "ply",
        "format binary_little_endian 1.0",
        "comment psfbench fringe depth, camera frame, mm",
        f"element vertex {len(pts)}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if cols is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")
    if cols is None:
        body = pts.astype("<f4").tobytes()
    else:
        rec = np.empty(len(pts), dtype=[("p", "<f4", 3), ("c", "u1", 3)])
        rec["p"] = pts
        rec["c"] = cols
        body = rec.tobytes()
    from psfbench.core.dataset.atomic import atomic_open

    with atomic_open(Path(path)) as fh:
        fh.write(("\n".join(header) + "\n").encode("ascii"))
        fh.write(body)
    return int(len(pts))


def read_ply(path: Path | str) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None]:
    """Read back what ``write_ply`` writes (used by tests and for quick inspection)."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    n = next(int(line.split()[2]) for line in lines if line.startswith("element vertex"))
    has_color = any("red" in line for line in lines)
    if has_color:
        rec = np.frombuffer(data[end:], dtype=[("p", "<f4", 3), ("c", "u1", 3)], count=n)
        return rec["p"].astype(np.float32), rec["c"].astype(np.uint8)
    return np.frombuffer(data[end:], dtype="<f4", count=3 * n).reshape(n, 3).copy(), None
