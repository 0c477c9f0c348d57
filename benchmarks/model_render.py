"""The PSF-model renderer's FFT frame: one period of the mirror extension vs mirror padding.

A blur wider than half the image used to be done on the image mirror-padded by the kernel's
radius (4 sigma), so the FFT frame grew with sigma; now it is done on one period of the
half-sample mirror extension (twice the image), with the kernel's taps wrapped onto it
(``FftGrid``, core/psfmodels/layered.py). Both give the same result (to float rounding: checked
here, and against scipy in tests/psfmodels/test_blur_fft.py). This times the blur of a sweep's
frames by one kernel with both frames, interleaved in one run, and prints the ratio. The
padded frame here is already rounded up to a fast FFT length, which the old code did not do,
so the ratio is a lower bound of the gain over the old code.

Run: .venv/bin/python benchmarks/model_render.py [--frames 20] [--size 96x128] [--repeats 7]
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from psfbench.core.psfmodels.kernels import shape_kernel
from psfbench.core.psfmodels.layered import FftGrid


def blur(img: torch.Tensor, k: torch.Tensor, periodic: bool) -> torch.Tensor:
    h, w = img.shape[-2:]
    grid = FftGrid(h, w, k.shape[-1] // 2, img.device, periodic=periodic)
    spec = grid.spectrum(k.to(img.dtype))
    return grid.crop(torch.fft.irfft2(torch.fft.rfft2(grid.extend(img)) * spec, s=grid.shape))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--size", default="96x128")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[4.0, 12.0, 27.0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    img = torch.rand(args.frames, 1, h, w, generator=torch.Generator().manual_seed(0))
    rows = []
    for sigma in args.sigmas:
        for edge in (None, 0.5):
            k = shape_kernel(sigma, edge).float()
            a, b = blur(img, k, True), blur(img, k, False)
            diff = float((a - b).abs().max())
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats):
                for periodic in (True, False):  # interleaved: both see the same machine load
                    t0 = time.perf_counter()
                    blur(img, k, periodic)
                    times[periodic].append(time.perf_counter() - t0)
            new, old = statistics.median(times[True]), statistics.median(times[False])
            g_new = FftGrid(h, w, k.shape[-1] // 2, "cpu").shape
            g_old = FftGrid(h, w, k.shape[-1] // 2, "cpu", periodic=False).shape
            row = {
                "sigma_px": sigma,
                "shape": "gaussian" if edge is None else f"disc edge {edge}",
                "frame_period": list(g_new),
                "frame_padded": list(g_old),
                "ms_period": round(1e3 * new, 2),
                "ms_padded": round(1e3 * old, 2),
                "ms_period_spread": [
                    round(1e3 * min(times[True]), 2),
                    round(1e3 * max(times[True]), 2),
                ],
                "ms_padded_spread": [
                    round(1e3 * min(times[False]), 2),
                    round(1e3 * max(times[False]), 2),
                ],
                "speedup": round(old / new, 2),
                "max_abs_diff": diff,
            }
            rows.append(row)
            print(
                f"sigma {sigma:5.1f} {row['shape']:>12}: frame {g_new} vs {g_old}: "
                f"{row['ms_period']:.1f} ms vs {row['ms_padded']:.1f} ms (median of "
                f"{args.repeats}; spread {row['ms_period_spread']} / {row['ms_padded_spread']}) "
                f"-> {row['speedup']:.2f}x, max |diff| {diff:.1e}"
            )
    print(json.dumps({"frames": args.frames, "size": [h, w], "rows": rows}))


if __name__ == "__main__":
    main()
