"""CLI progress on a file or a pipe: plain lines, no carriage returns (a newcomer's log of
``psfbench fit ... | tee`` was one line of tqdm redraws)."""

from __future__ import annotations

from types import SimpleNamespace

from psfbench.core.cli.progress_bar import StageBars


def test_stage_lines_when_not_a_terminal(capsys) -> None:
    bars = StageBars(interactive=False)
    for i in range(40):
        bars(SimpleNamespace(stage="landscape", done=i + 1, total=40))
    for i in range(3):
        bars(SimpleNamespace(stage="zoom", done=i + 1, total=3))
    bars.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0] == "landscape: 40 pt" and lines[1].startswith("landscape: 40/40 pt in ")
    assert lines[2] == "zoom: 3 pt" and lines[3].startswith("zoom: 3/3 pt in ") and len(lines) == 4


def test_quiet_prints_nothing(capsys) -> None:
    bars = StageBars(enabled=False, interactive=False)
    bars(SimpleNamespace(stage="landscape", done=1, total=2))
    bars.close()
    assert capsys.readouterr().err == ""
