"""Names of the files inside a session folder, in one place for the writer and the reader."""

from __future__ import annotations

META_NAME = "session.json"
LOG_NAME = "sweep.jsonl"
FRAMES_DIR = "frames"
DEPTH_NAME = "depth.tif"
AIF_NAME = "aif.tif"
RESULTS_DIR = "results"
RESULT_SCHEMA = "psfbench.result/1"


def frame_name(index: int) -> str:
    """Relative frame path; four digits sort correctly for up to 10000 steps."""
    return f"{FRAMES_DIR}/frame_{index:04d}.tif"
