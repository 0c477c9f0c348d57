"""``psfbench batch fit`` on a Dask LocalCluster of 2 worker processes (issue 18): the batch
equals the sequential fits, a worker killed mid-fit changes nothing in the results, and the
command's table and JSON."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from psfbench.core.batch import batch_fit, format_report, open_client
from psfbench.core.batch.cluster import BatchSetupError
from psfbench.core.cli import main
from psfbench.core.fit.session_fit import FitSettings, run_session_fit
from psfbench.core.simulation import SimulationSpec, simulate_session

SETTINGS = FitSettings(grid=(6, 4), frames=6, device="cpu")
SPECS = [
    SimulationSpec(A=800.0, e_mm=23.6, scene="planes", frames=8, height=65, width=81, seed=1),
    SimulationSpec(A=700.0, e_mm=23.4, scene="steps", frames=8, height=65, width=81, seed=2),
    SimulationSpec(A=900.0, e_mm=23.8, scene="planes", frames=8, height=65, width=81, seed=3),
    SimulationSpec(A=850.0, e_mm=23.6, scene="objects", frames=8, height=65, width=81, seed=4),
]
KEYS = ("A", "e", "A_std", "e_std", "loss")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("batch")
    out = []
    for i, spec in enumerate(SPECS):
        simulate_session(root / f"s{i}", spec)
        out.append(root / f"s{i}")
    return out


@pytest.fixture(scope="module")
def sequential(sessions: list[Path]) -> dict[str, dict[str, float]]:
    """Each session fitted in this process, one after the other (what `psfbench fit` does)."""
    ref = {}
    for s in sessions:
        r = run_session_fit(s, SETTINGS).result
        ref[s.name] = {k: float(getattr(r, k)) for k in KEYS}
    return ref


def _copies(sessions: list[Path], dst: Path) -> list[Path]:
    out = []
    for s in sessions:
        shutil.copytree(s, dst / s.name, ignore=shutil.ignore_patterns("results"))
        out.append(dst / s.name)
    return out


def _assert_sequential(outcomes: list, sequential: dict[str, dict[str, float]]) -> None:
    """Every outcome, and the fit.json written into its session (as `psfbench fit` writes
    it), equal to the sequential fit."""
    for o in outcomes:
        want = sequential[Path(o.session).name]
        results = Path(o.session) / "results"
        doc = json.loads((results / "fit.json").read_text())
        for k in KEYS:
            assert getattr(o, k) == pytest.approx(want[k], rel=1e-12, abs=1e-12), k
            assert doc[k] == pytest.approx(want[k], rel=1e-12, abs=1e-12), k
        assert (results / "landscape.npz").is_file() and (results / "fit.txt").is_file()


def test_batch_equals_sequential_fits(
    sessions: list[Path], sequential: dict[str, dict[str, float]], tmp_path: Path
) -> None:
    work = _copies(sessions, tmp_path)
    with open_client(local_workers=2, dashboard_address=None, threads_per_task=1) as handle:
        assert handle.n_workers() == 2
        seen = []
        outcomes = batch_fit(handle, work, SETTINGS, progress=seen.append)
    assert [o.session for o in outcomes] == [str(p) for p in work]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert len({o.worker for o in outcomes}) == 2  # both worker processes fitted
    _assert_sequential(outcomes, sequential)
    assert all(o.truth is not None for o in outcomes)
    # progress with ETA: from 0 of 4 to 4 of 4
    assert seen[0].done == 0 and seen[-1].done == seen[-1].total == len(work)
    table = format_report(outcomes)
    assert "4 of 4 sessions fitted" in table and "s3" in table


def test_killed_worker_still_gives_the_sequential_results(
    sessions: list[Path], sequential: dict[str, dict[str, float]], tmp_path: Path
) -> None:
    work = _copies(sessions, tmp_path)
    with open_client(local_workers=2, dashboard_address=None, threads_per_task=1) as handle:
        client = handle.client
        pids = client.run(os.getpid)
        result: dict[str, object] = {}

        def run() -> None:
            result["outcomes"] = batch_fit(handle, work, SETTINGS)

        t = threading.Thread(target=run)
        t.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            busy = {w: ks for w, ks in client.processing().items() if ks}
            if busy:
                victim = sorted(busy)[0]
                victim_keys = list(busy[victim])
            else:
                time.sleep(0.05)
        assert victim is not None, "no fit ever started"
        time.sleep(1.0)  # well inside the fit (the first one on a worker takes seconds)
        still = client.processing().get(victim, [])
        assert set(still) & set(victim_keys), "the task finished before the kill"
        os.kill(pids[victim], signal.SIGKILL)
        t.join(timeout=120)
        assert not t.is_alive()
        outcomes = result["outcomes"]
    assert isinstance(outcomes, list)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    killed = [o for o in outcomes if any(Path(o.session).name in k for k in victim_keys)]
    assert killed and all(o.worker != victim for o in killed)  # redone on another worker
    _assert_sequential(outcomes, sequential)


def test_cli_table_json_and_failures(
    sessions: list[Path], sequential: dict[str, dict[str, float]], tmp_path: Path, capsys
) -> None:
    work = _copies(sessions[:2], tmp_path)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "batch.json"
    report = tmp_path / "batch.txt"
    argv = ["batch", "fit", *map(str, work), str(tmp_path / "empty"), "--grid", "6x4"]
    argv += ["--frames", "6", "--device", "cpu", "--in-process", "--dashboard", "none"]
    argv += ["--json", str(out), "--report", str(report), "--quiet"]
    assert main(argv) == 1  # one session cannot be fitted
    text = capsys.readouterr().out
    assert "cluster: local threads" in text and "dashboard: none" in text
    assert "2 of 3 sessions fitted" in text and "FAILED" in text
    doc = json.loads(out.read_text())
    assert [Path(d["session"]).name for d in doc] == ["s0", "s1", "empty"]
    for d in doc[:2]:
        assert set(KEYS) <= set(d)
        assert d["A"] == pytest.approx(sequential[Path(d["session"]).name]["A"], rel=1e-12)
        assert Path(d["results"]).is_file()
    assert doc[2]["A"] is None and doc[2]["error"]
    assert report.read_text().startswith("session")


def test_refuses_duplicates_and_bad_settings(sessions: list[Path]) -> None:
    with open_client(local_workers=1, processes=False, dashboard_address=None) as handle:
        with pytest.raises(BatchSetupError, match="more than once"):
            batch_fit(handle, [sessions[0], sessions[0]], SETTINGS)
        with pytest.raises(BatchSetupError, match="grid"):
            batch_fit(handle, [sessions[0]], SETTINGS.with_(grid=(0, 3)))
    with pytest.raises(BatchSetupError, match="exclude"), open_client("tcp://127.0.0.1:1", 2):
        pass


def test_without_a_dashboard_the_scheduler_http_server_listens_on_this_machine_only() -> None:
    """--dashboard none: Dask's scheduler still serves its health/metrics routes; they were on
    0.0.0.0:8787 (every interface). Now 127.0.0.1 and a free port."""
    from psfbench.core.batch.cluster import open_client

    with open_client(local_workers=1, processes=False, dashboard_address=None) as handle:
        server = handle.client.cluster.scheduler.http_server
        ips = {sock.getsockname()[0] for sock in server._sockets.values()}
        assert ips == {"127.0.0.1"}, ips


def test_a_failing_task_is_not_logged_by_dask_workers(capfd) -> None:
    """A task that raises reaches the client as its exception, which psfbench reports in one
    line; Dask's worker processes logged "Compute Failed" with the task and traceback first
    (on the terminal: the workers' stderr is the command's)."""
    import operator

    with open_client(local_workers=1, processes=True, dashboard_address=None) as handle:
        fut = handle.client.submit(operator.truediv, 1, 0, pure=False)
        with pytest.raises(ZeroDivisionError):
            fut.result()
    err = capfd.readouterr().err
    assert "Compute Failed" not in err


def test_in_process_workers_get_the_same_log_filter() -> None:
    """With --in-process the workers are threads of this process: the filter goes on its
    distributed.worker logger (pytest's log capture hides what they would print)."""
    import logging

    from psfbench.core.batch.cluster import _NoComputeFailedLog

    with open_client(local_workers=1, processes=False, dashboard_address=None):
        filters = logging.getLogger("distributed.worker").filters
        assert sum(isinstance(f, _NoComputeFailedLog) for f in filters) == 1
