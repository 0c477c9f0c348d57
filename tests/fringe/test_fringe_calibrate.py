"""Procam calibration on the real Gray-code captures (kamino410/procam-calibration data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from psfbench.core.cli import main
from psfbench.core.fringe.calibrate import CalibrationError, ProcamCalibration, calibrate_procam

_CACHE: dict[str, ProcamCalibration] = {}


@pytest.fixture
def real_calibration(shared_data) -> ProcamCalibration:
    """Calibrated once per module (a few seconds), reused by the tests below."""
    folder = shared_data / "procam-graycode-calibration"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    if "cal" not in _CACHE:
        _CACHE["cal"] = calibrate_procam(
            folder, projector_size=(1024, 768), pattern=(9, 7), square=75.0
        )
    return _CACHE["cal"]


def test_real_captures_reach_target_rms(real_calibration: ProcamCalibration) -> None:
    cal = real_calibration
    assert cal.rms <= 0.6  # original tool: 0.857; OpenCV stereo seen at 0.575
    assert cal.camera_rms < 0.6 and cal.projector_rms < 0.6
    assert len(cal.views) == 5
    assert sum(v.n_corners for v in cal.views) >= 5 * 63 - 15
    assert all(v.stereo_camera_rms < 0.8 and v.stereo_projector_rms < 0.8 for v in cal.views)
    # Rigid transform, projector well away from the camera.
    np.testing.assert_allclose(cal.R @ cal.R.T, np.eye(3), atol=1e-9)
    assert np.linalg.norm(cal.T) > 100
    # Camera focal length agrees with the original tool's (3452 / 3450 px) within 1 %.
    assert abs(cal.camera_matrix[0, 0] - 3452.4) / 3452.4 < 0.01


def test_json_round_trip(real_calibration: ProcamCalibration) -> None:
    d = json.loads(real_calibration.to_json())
    assert {"rms", "camera_rms", "projector_rms"} <= set(d)
    back = ProcamCalibration.from_dict(d)
    np.testing.assert_allclose(back.projector_matrix, real_calibration.projector_matrix)
    np.testing.assert_allclose(back.T, real_calibration.T)
    with pytest.raises(CalibrationError, match="camera"):
        ProcamCalibration.from_dict({"R": []}, "session.json")


def test_cli_writes_json(shared_data, tmp_path, capsys) -> None:
    folder = shared_data / "procam-graycode-calibration"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    out = tmp_path / "cal.json"
    rc = main(
        [
            "calibrate",
            "procam",
            str(folder),
            "--json",
            str(out),
            "--chessboard",
            "9x7",
            "--square",
            "75",
            "--projector",
            "1024x768",
            "--graycode-step",
            "1",
        ]
    )
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["rms"] <= 0.6 and d["camera_rms"] > 0 and d["projector_rms"] > 0
    assert "stereo RMS" in capsys.readouterr().out


def test_cli_errors_name_the_folder(tmp_path, capsys) -> None:
    assert main(["calibrate", "procam", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    (tmp_path / "capture_0").mkdir()
    assert main(["calibrate", "procam", str(tmp_path)]) == 2
    assert "capture_0" in capsys.readouterr().err
