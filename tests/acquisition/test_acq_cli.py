"""``psfbench acquire``: sweeps, resume, Ctrl-C, and clear errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from psfbench.core.cli import main
from psfbench.core.dataset import Session

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--virtual", "width=48", "--virtual", "height=32", "--virtual", "time_scale=0.01"]


def _sweep(out: Path, *extra: str) -> list[str]:
    return [
        "acquire",
        "sweep",
        "--profile",
        "virtual",
        *SMALL,
        "--out",
        str(out),
        "--quiet",
        "--settle",
        "0",
        *extra,
    ]


def test_sweep_then_resume_has_nothing_to_do(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    assert main(_sweep(out, "--steps", "5", "--average", "2")) == 0
    session = Session.open(out)
    report = session.validate()
    assert report.valid and report.frames == 5 and report.has_aif and report.has_depth
    assert all(r.frames_averaged == 2 for r in session.records)
    assert main(["session", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["valid"] and info["frames"] == 5 and info["missing_steps"] == []
    assert main(["acquire", "resume", str(out), "--quiet"]) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_range_in_mm(tmp_path) -> None:
    out = tmp_path / "s"
    code = main(
        _sweep(
            out, "--steps", "3", "--unit", "mm", "--start", "4.5", "--stop", "5.5", "--aif", "skip"
        )
    )
    assert code == 0
    assert [s.motor_steps for s in Session.open(out).meta.plan.steps] == [1800, 2000, 2200]


@pytest.mark.parametrize(
    ("toml", "expect"),
    [
        ('[camera]\npixel_format = "Mono11"\n', "camera.pixel_format"),
        ("[virtual]\nwidth = -3\n", "virtual.width"),
        ("[camera\n", "TOML syntax error"),
        ('[focus]\ndriver = "serial"\n', "port"),
    ],
    ids=["bad-format", "bad-width", "bad-toml", "serial-without-port"],
)
def test_bad_profile_file_is_a_clear_error(tmp_path, capsys, toml, expect) -> None:
    prof = tmp_path / "bench.toml"
    prof.write_text(toml)
    out = tmp_path / "s"
    code = main(["acquire", "sweep", "--profile", str(prof), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(prof) in err and expect in err and "Traceback" not in err
    assert not (out / "session.json").exists()


def test_missing_profile_and_bad_arguments(tmp_path, capsys) -> None:
    assert main(["acquire", "sweep", "--profile", "nosuch", "--out", str(tmp_path / "a")]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert main(_sweep(tmp_path / "b", "--steps", "0")) == 2
    assert "steps" in capsys.readouterr().err
    assert main(_sweep(tmp_path / "c", "--virtual", "nonsense")) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(_sweep(tmp_path / "d", "--start", "-50", "--stop", "100", "--steps", "3")) == 1
    assert "soft limits" in capsys.readouterr().err
    report = Session.open(tmp_path / "d").validate()  # refused before moving: still consistent
    assert report.valid and report.frames == 0


def test_existing_output_and_non_session_resume(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(_sweep(out, "--steps", "3")) == 2
    assert "acquire resume" in capsys.readouterr().err
    assert main(["acquire", "resume", str(tmp_path / "nothing")]) == 2
    assert "not a session folder" in capsys.readouterr().err
    assert main(["acquire", "resume", str(out)]) == 2
    assert "session.json" in capsys.readouterr().err


def test_resume_refuses_a_corrupt_stored_plan(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    assert main(_sweep(out, "--steps", "2", "--aif", "skip")) == 0
    meta = json.loads((out / "session.json").read_text())
    meta["plan"]["parameters"]["engine_plan"]["kind"] = "teleport"
    (out / "session.json").write_text(json.dumps(meta))
    assert main(["acquire", "resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert "session.json" in err and "plan.kind" in err and "teleport" in err


def _child_signals(ignore_sigint: bool):  # type: ignore[no-untyped-def]
    """preexec_fn: SIGINT as a terminal gives it, or ignored as a background job of a
    non-interactive shell leaves it (``make test &``: Python then installs no Ctrl-C handler)."""

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else signal.SIG_DFL)

    return setup


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(
    ("sig", "ignore_sigint"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "ctrl-c-with-sigint-ignored-at-start", "sigterm"],
)
def test_interrupt_is_a_clean_abort_and_resume_finishes(tmp_path, sig, ignore_sigint) -> None:
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # settle 2 s at time_scale 0.01: 20 ms per step, so the 37 steps after the third take
    # ~1 s: the stop must land mid-sweep (with --settle 0 they took 0.2 s, and a loaded
    # machine could deliver the signal after the sweep, or after the process had exited)
    cmd = [sys.executable, "-m", "psfbench.core.cli", *_sweep(out, "--steps", "40")]
    cmd[cmd.index("--settle") + 1] = "2"
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_child_signals(ignore_sigint),
    )
    deadline = time.monotonic() + 60
    log = out / "sweep.jsonl"
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    # freeze the child, check it is mid-sweep, then signal it: the signal is delivered on
    # SIGCONT, provably while the sweep is still running (else the test says so, not "rc 0")
    proc.send_signal(signal.SIGSTOP)
    alive = proc.poll() is None
    saved_at_signal = log.read_bytes().count(b"\n") if log.exists() else 0
    if alive:
        proc.send_signal(sig)
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert alive and 3 <= saved_at_signal < 40, (
        f"the signal could not be sent mid-sweep (process alive: {alive}, "
        f"{saved_at_signal} frames saved): {err}"
    )
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"psfbench acquire resume {out}" in err
    assert "stopping after the current step" in err
    report = Session.open(out).validate()
    assert report.valid and 3 <= report.frames < 40
    assert not report.has_aif
    assert main(["acquire", "resume", str(out), "--quiet"]) == 0
    report = Session.open(out).validate()
    assert report.valid and report.frames == 40 and report.duplicate_indices == []
    assert report.has_aif


def test_interrupt_during_the_last_step_does_not_start_the_aif(tmp_path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """A Ctrl-C that arrives while the last step is taken cannot stop that step (the run
    completes), but it must not be lost: no all-in-focus prompt follows, the exit is 130."""
    from psfbench.core.cli import cmd_acquire

    real_wait = cmd_acquire._wait
    calls: list[str] = []

    def wait_interrupted_at_the_end(engine, prompts, auto_yes):  # type: ignore[no-untyped-def]
        result, _ = real_wait(engine, prompts, auto_yes)
        calls.append(result.status)
        return result, True  # as if the signal had come during the last step

    monkeypatch.setattr(cmd_acquire, "_wait", wait_interrupted_at_the_end)
    out = tmp_path / "s"
    assert main(_sweep(out, "--steps", "3")) == 130
    assert calls == ["completed"]  # the AIF run was never started
    err = capsys.readouterr().err
    assert "stopped: all 3 steps were saved" in err and f"acquire resume {out}" in err
    report = Session.open(out).validate()
    assert report.valid and report.frames == 3 and not report.has_aif
    monkeypatch.setattr(cmd_acquire, "_wait", real_wait)
    assert main(["acquire", "resume", str(out), "--quiet"]) == 0
    assert Session.open(out).validate().has_aif


def test_folder_left_by_a_crash_during_creation_is_reused(tmp_path) -> None:
    out = tmp_path / "s"
    (out / "frames").mkdir(parents=True)
    (out / "results").mkdir()
    (out / ".session.json.tmp-123-abcd1234").write_text("{")
    assert main(_sweep(out, "--steps", "2", "--aif", "skip")) == 0
    assert Session.open(out).validate().frames == 2


def test_resume_restores_a_missing_virtual_depth_map(tmp_path) -> None:
    out = tmp_path / "s"
    assert main(_sweep(out, "--steps", "3", "--aif", "skip")) == 0
    # simulate a kill between session.json and depth.tif: no frames, no depth yet
    (out / "depth.tif").unlink()
    (out / "sweep.jsonl").write_bytes(b"")
    for f in (out / "frames").iterdir():
        f.unlink()
    assert main(["acquire", "resume", str(out), "--quiet"]) == 0
    report = Session.open(out).validate()
    assert report.valid and report.frames == 3 and report.has_depth
