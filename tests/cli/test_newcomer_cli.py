"""Findings of a newcomer trial on the command line: refusals with one clear line each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from psfbench.core.cli import main
from psfbench.core.dataset import SessionWriter
from tests.dataset.helpers import image, make_meta, write_session


def _session(root: Path, n_frames: int, depth: bool = True, same_d: bool = False) -> Path:
    with SessionWriter.create(root, make_meta(max(n_frames, 1))) as w:
        for i in range(n_frames):
            d = 30.0 if same_d else 30.0 + i
            w.write_frame(i, image((12, 16), "uint16", i), {"d_mm": d, "motor_steps": 100 * i})
        if depth:
            w.write_depth(np.full((12, 16), 900.0, np.float32))
        w.write_aif(image((12, 16), "uint16", 99))
    return root


def test_fit_refuses_a_single_frame_session(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "one", n_frames=1, n_steps=1)
    assert main(["fit", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{root}: 1 frame;" in err and "at least 2 focus positions" in err
    same = _session(tmp_path / "same", 3, same_d=True)
    assert main(["fit", str(same), "--quiet"]) == 2
    assert "all 3 frames are at one focus position (30 mm)" in capsys.readouterr().err


def test_fit_refuses_frames_below_2(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "s", n_frames=3)
    assert main(["fit", str(root), "--frames", "1", "--quiet"]) == 2
    assert "--frames 1: must be at least 2" in capsys.readouterr().err


def test_fit_without_a_depth_map_names_the_session_and_the_remedy(tmp_path, capsys) -> None:
    root = _session(tmp_path / "nodepth", 3, depth=False)
    assert main(["fit", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{root}: this session has no depth map" in err
    assert "import with --depth" in err and "Traceback" not in err


def test_render_output_errors_are_one_line_like_stack(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "s", n_frames=3)
    base = ["render", str(root), "--focus-depth", "500", "--A", "800", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "x.xyz")]) == 2
    err = capsys.readouterr().err
    assert "unknown output format '.xyz'; use .tif" in err and "Traceback" not in err
    assert main([*base, "--out", str(tmp_path / "nodir" / "x.tif")]) == 2
    assert f"the folder {tmp_path / 'nodir'} does not exist" in capsys.readouterr().err


def test_render_png_keeps_the_sessions_bit_depth(tmp_path, capsys) -> None:
    import cv2
    import tifffile

    root = write_session(tmp_path / "s", n_frames=3)
    base = ["render", str(root), "--focus-depth", "500", "--A", "800", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "x.png")]) == 0
    assert main([*base, "--out", str(tmp_path / "x.tif")]) == 0
    png = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED)
    tif = tifffile.imread(tmp_path / "x.tif")
    assert png.dtype == np.uint16 and png.max() > 255 and png.max() <= 4095
    np.testing.assert_array_equal(png, tif)  # the same 12-bit values as the TIFF


def test_stack_folder_leaves_out_files_off_its_numbered_pattern(tmp_path, capsys) -> None:
    from psfbench.core.stacking.io import from_float, write_image
    from psfbench.core.stacking.synthetic import make_plane_stack

    st = make_plane_stack(48, 64, channels=1, planes=2, A=300.0, seed=1)
    folder = tmp_path / "pcb"
    folder.mkdir()
    for i, f in enumerate(st.frames):
        write_image(folder / f"pcb_{i + 1:03d}.png", from_float(f, np.dtype(np.uint8)))
    write_image(folder / "expected.png", from_float(st.aif, np.dtype(np.uint8)))
    out = tmp_path / "aif.png"
    assert main(["stack", str(folder), "--out", str(out), "--no-align"]) == 0
    cap = capsys.readouterr()
    assert "left out 1 file(s) not named like pcb_###.png: expected.png" in cap.err
    assert f"({len(st.frames)} frames," in cap.out
    # named explicitly, a file off the pattern is stacked
    files = sorted(str(p) for p in folder.iterdir())
    assert main(["stack", *files, "--out", str(out), "--no-align"]) == 0
    cap = capsys.readouterr()
    assert "left out" not in cap.err and f"({len(st.frames) + 1} frames," in cap.out


def test_psf_export_and_render_model_without_a_fit_say_so(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "s", n_frames=3)
    assert main(["psf", "export", str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{root} has no fit yet (results/fit.json): run psfbench fit {root}" in err
    assert "Errno" not in err
    assert main(["psf", "export", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")]) == 2
    assert f"file not found: {tmp_path / 'nope.json'}" in capsys.readouterr().err
    render = ["render", str(root), "--focus-depth", "500", "--out", str(tmp_path / "r.tif")]
    assert main([*render, "--model"]) == 2
    assert f"{root} has no fit yet" in capsys.readouterr().err


def test_psf_export_prints_parameters_to_sensible_precision(tmp_path, capsys) -> None:
    import json

    root = write_session(tmp_path / "s", n_frames=3)
    (root / "results").mkdir(exist_ok=True)
    fit = {"A": 991.409981929798, "e": 23.612345678901, "A_std": 2.31, "e_std": 0.00123}
    (root / "results" / "fit.json").write_text(json.dumps(fit))
    assert main(["psf", "export", str(root), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    # the project's one parameter formatter (core/psfmodels/text.py): rounded at the sd's place
    assert "A=991.4±2.3 e_mm=23.6123±0.0012" in out


def test_a_closed_pipe_ends_quietly(tmp_path) -> None:
    """`psfbench session info S | head -1`: no BrokenPipeError traceback, exit 141."""
    import os
    import subprocess
    import sys

    root = write_session(tmp_path / "s", n_frames=3)
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first line: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "psfbench.core.cli", "session", "info", str(root)],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(w)
    assert done.returncode == 141
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_batch_and_gui_fits_refuse_the_same_sessions(tmp_path) -> None:
    """The checks live in run_session_fit, which the batch and the GUI's fitting panel call
    directly (they used to bypass the CLI's checks and report the loader's old messages)."""
    import pytest

    from psfbench.core.fit.session_fit import FitSettings, FitSetupError, run_session_fit

    one = write_session(tmp_path / "one", n_frames=1, n_steps=1)
    with pytest.raises(FitSetupError, match="1 frame; the fit needs at least 2 focus"):
        run_session_fit(one, FitSettings())
    nodepth = _session(tmp_path / "nodepth", 3, depth=False)
    with pytest.raises(FitSetupError, match="this session has no depth map"):
        run_session_fit(nodepth, FitSettings())


def test_a_missing_calibration_file_says_file_not_found(tmp_path, capsys) -> None:
    caps = tmp_path / "caps"
    caps.mkdir()
    import cv2
    import numpy as np

    cv2.imwrite(str(caps / "000.png"), np.zeros((8, 8), np.uint8))
    missing = tmp_path / "nope.json"
    assert main(["fringe", "decode", str(caps), "--calibration", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"file not found: {missing}" in err and "Errno" not in err


def test_fit_names_metres_and_a_too_low_e_range(tmp_path) -> None:
    """Readings in metres (sessions imported before the CSV importer refused them) and an
    --e-range too low for the readings were both 'd + e = ... is not beyond the focal length'."""
    import pytest

    from psfbench.core.fit.session_fit import FitSettings, FitSetupError, run_session_fit

    root = write_session(tmp_path / "s", n_frames=3)
    with pytest.raises(FitSetupError, match=r"--e-range 1 2: d \+ e = .* e must exceed"):
        run_session_fit(root, FitSettings(e_range=(1.0, 2.0)))
    import numpy as np

    from psfbench.core.dataset import SessionWriter
    from tests.dataset.helpers import image, make_meta

    metres = tmp_path / "m"
    with SessionWriter.create(metres, make_meta(3)) as w:
        for i in range(3):
            w.write_frame(i, image((12, 16), "uint16", i), {"d_mm": 0.030 + 0.001 * i})
        w.write_depth(np.full((12, 16), 900.0, np.float32))
        w.write_aif(image((12, 16), "uint16", 99))
    root = metres
    with pytest.raises(FitSetupError, match="distances in metres instead of mm"):
        run_session_fit(root, FitSettings())
