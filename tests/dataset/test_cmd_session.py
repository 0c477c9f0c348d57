from __future__ import annotations

import json

from psfbench.core.cli import main

from .helpers import write_session


def test_info_json_valid(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "s", n_frames=3, n_steps=5)
    assert main(["session", "info", str(root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["valid"] is True
    assert info["frames"] == 3 and info["missing_steps"] == [3, 4]
    assert info["shape"] == [12, 16] and info["focal_length_mm"] == 50.0
    assert info["d_range_mm"] == [30.0, 32.0] and info["problems"] == []


def test_info_invalid_exits_1_and_names_file(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "s")
    (root / "frames" / "frame_0001.tif").unlink()
    assert main(["session", "info", str(root), "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert info["valid"] is False and info["frames"] == 3
    assert any("frames/frame_0001.tif" in p for p in info["problems"])
    assert main(["session", "info", str(root)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "frame_0001.tif" in out


def test_info_broken_metadata_and_missing_dir(tmp_path, capsys) -> None:
    root = write_session(tmp_path / "s")
    (root / "session.json").write_text('{"schema": "other/2"}')
    assert main(["session", "info", str(root), "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert not info["valid"] and "session.json" in info["problems"][0]
    assert main(["session", "info", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
