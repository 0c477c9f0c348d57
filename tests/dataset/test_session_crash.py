from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from psfbench.core.dataset import Session, SessionWriter
from psfbench.core.dataset.atomic import atomic_write_json, is_temp_file

from .helpers import image, write_session

REPO = Path(__file__).resolve().parents[2]


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_no_temp_files_left(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    with SessionWriter.open_existing(root) as w:
        w.write_results("fit", {"A": 1.0}, {"x": np.zeros(3)})
        w.update_meta(notes="x")
    assert not [p for p in _all_files(root) if is_temp_file(p)]
    assert not [p for p in _all_files(root) if ".tmp" in p.name]


def test_failed_write_leaves_old_file_and_no_debris(tmp_path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"v": float("nan")})  # refused mid-write
    assert target.read_text().strip().endswith("}") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_torn_last_line_is_ignored_then_repaired(tmp_path) -> None:
    root = write_session(tmp_path / "s", n_frames=3, n_steps=4)
    log = root / "sweep.jsonl"
    good = log.read_bytes()
    last = good.rstrip(b"\n").rsplit(b"\n", 1)[1]
    # a crash while appending the record of step 3: half a line, no newline
    log.write_bytes(good + last.replace(b'"index": 2', b'"index": 3')[:40])
    s = Session.open(root)
    rep = s.validate()
    assert rep.valid and rep.frames == 3 and rep.missing_steps == [3]
    assert any("incomplete last line" in w for w in rep.warnings)
    with SessionWriter.open_existing(root) as w:
        assert any("incomplete last line" in r for r in w.repairs)
        assert w.missing_steps() == [3]
        w.write_frame(3, image((12, 16), "uint16", 3), {"d_mm": 33.0})
    assert log.read_bytes().startswith(good)
    rep = Session.open(root).validate()
    assert rep.valid and rep.frames == 4 and rep.missing_steps == [] and not rep.warnings


def test_duplicate_indices_last_wins_and_reported(tmp_path) -> None:
    root = write_session(tmp_path / "s", n_frames=3)
    new = image((12, 16), "uint16", 42)
    with SessionWriter.open_existing(root) as w:
        w.write_frame(1, new, {"d_mm": 31.5})
    s = Session.open(root)
    rep = s.validate()
    assert rep.valid and rep.frames == 3 and rep.duplicate_indices == [1]
    assert any("more than once" in w for w in rep.warnings)
    assert s.record(1).d_mm == 31.5
    np.testing.assert_array_equal(s.frame(1), new)


def test_crash_between_frame_and_record(tmp_path, monkeypatch) -> None:
    root = write_session(tmp_path / "s", n_frames=2, n_steps=4)
    w = SessionWriter.open_existing(root)

    def crash(record):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(w._log, "append", crash)
    with pytest.raises(KeyboardInterrupt):
        w.write_frame(2, image((12, 16), "uint16", 2), {"d_mm": 32.0})
    w.close()
    assert (root / "frames" / "frame_0002.tif").exists()  # frame landed, record did not
    rep = Session.open(root).validate()
    assert rep.valid and rep.frames == 2 and rep.missing_steps == [2, 3]
    assert any("frame_0002.tif" in x for x in rep.warnings)


def test_sigkill_style_exit_mid_step_then_resume(tmp_path) -> None:
    """A real process dies (os._exit, no cleanup) after a frame write, before its record."""
    root = write_session(tmp_path / "s", n_frames=1, n_steps=3)
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from psfbench.core.dataset import SessionWriter
        w = SessionWriter.open_existing({str(root)!r})
        w.write_frame(1, np.full((12, 16), 7, np.uint16), {{"d_mm": 31.0}})
        w._log.append = lambda rec: os._exit(9)
        w.write_frame(2, np.full((12, 16), 9, np.uint16), {{"d_mm": 32.0}})
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 9
    rep = Session.open(root).validate()
    assert rep.valid and rep.frames == 2 and rep.missing_steps == [2]
    with SessionWriter.open_existing(root) as w:  # the dead process's lock is gone
        w.write_frame(2, np.full((12, 16), 11, np.uint16), {"d_mm": 32.0})
    s = Session.open(root)
    assert s.validate().missing_steps == [] and int(s.frame(2)[0, 0]) == 11
    assert not s.validate().warnings


def test_open_existing_removes_temp_debris(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    debris = root / "frames" / ".frame_0003.tif.tmp-123-abcd"
    debris.write_bytes(b"half a tiff")
    assert any("temporary" in w for w in Session.open(root).validate().warnings)
    with SessionWriter.open_existing(root) as w:
        assert any("temporary" in r for r in w.repairs)
    assert not debris.exists()


def test_log_cut_at_every_byte_never_breaks_the_reader(tmp_path) -> None:
    """Whatever prefix of sweep.jsonl survives a crash, the session opens and stays valid."""
    root = write_session(tmp_path / "s", n_frames=3, n_steps=3)
    log = root / "sweep.jsonl"
    full = log.read_bytes()
    ends = [k + 1 for k, b in enumerate(full) if b == ord("\n")]
    for cut in range(0, len(full) + 1, 7):
        log.write_bytes(full[:cut])
        rep = Session.open(root).validate()
        complete = sum(1 for e in ends if e <= cut)
        assert rep.valid and rep.frames == complete, cut
        assert rep.missing_steps == list(range(complete, 3))
