"""``psfbench batch fit``: one ``psfbench fit`` per session, each a Dask task.

Each task runs :func:`psfbench.core.fit.session_fit.run_session_fit` (exactly what ``psfbench fit``
runs) on a worker and writes the session's ``results/`` with
:func:`psfbench.core.fit.report.write_outputs`, as ``psfbench fit`` does; the driver gathers a
summary per session (:class:`SessionOutcome`) into one table (:func:`format_report`) and JSON.
Sessions are named by path: workers must see them at the same path (shared storage).

A task is idempotent (results are written atomically and a rerun writes the same), so when a
worker dies mid-fit Dask simply runs the task again elsewhere.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psfbench.core.batch.cluster import (
    BatchSetupError,
    ClusterHandle,
    set_task_threads,
    task_resources,
)
from psfbench.core.fit.progress import Progress, ProgressCallback, StageTimer
from psfbench.core.fit.session_fit import FitSettings


@dataclass
class SessionOutcome:
    """One session's fit as the batch reports it. ``A``/``e`` (mm)/``A_std``/``e_std``
    (1 sd, bootstrap) and ``loss`` are None when the fit failed (``error`` says why);
    ``results`` is the fit.json written into the session; ``truth`` (A, e) of a simulated
    session; ``worker`` the Dask worker that ran it; ``wall_s`` its run time there."""

    session: str
    A: float | None = None
    e: float | None = None
    A_std: float | None = None
    e_std: float | None = None
    loss: float | None = None
    at_boundary: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    results: str | None = None
    truth: dict[str, float] | None = None
    worker: str | None = None
    wall_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: a number that is not finite (an undefined sd) becomes null."""
        doc = asdict(self)
        for k, v in doc.items():
            if isinstance(v, float) and not math.isfinite(v):
                doc[k] = None
        return doc


def fit_session_task(
    session: str, settings: dict[str, Any], threads: int, write: bool = True
) -> dict[str, Any]:
    """Run on a worker: fit ``session`` with ``settings`` (FitSettings JSON) on ``threads``
    torch threads, write its results (``write``), return a SessionOutcome dict. A session
    that cannot be fitted is an outcome with ``error``, not an exception."""
    from psfbench.core.fit.report import write_outputs
    from psfbench.core.fit.session_fit import FitSetupError, run_session_fit

    set_task_threads(threads)
    t0 = time.perf_counter()
    worker = None
    try:
        from distributed import get_worker

        worker = str(get_worker().address)
    except (ImportError, ValueError):
        pass
    try:
        done = run_session_fit(session, FitSettings.from_json(settings))
    except FitSetupError as exc:
        return SessionOutcome(session, error=str(exc), worker=worker).to_json()
    res = done.result
    results = None
    if write:
        paths = write_outputs(res, Path(session) / "results", truth=done.truth)
        results = paths["json"]
    truth = None if done.truth is None else {"A": done.truth[0], "e": done.truth[1]}
    return SessionOutcome(
        session,
        A=float(res.A),
        e=float(res.e),
        A_std=float(res.A_std),
        e_std=float(res.e_std),
        loss=float(res.loss),
        at_boundary=bool(res.at_boundary),
        warnings=[*done.messages[1:], *res.warnings],
        results=results,
        truth=truth,
        worker=worker,
        wall_s=time.perf_counter() - t0,
    ).to_json()


def batch_fit(
    handle: ClusterHandle,
    sessions: Sequence[str | Path],
    settings: FitSettings,
    *,
    progress: ProgressCallback | None = None,
    write: bool = True,
) -> list[SessionOutcome]:
    """Fit every session on the cluster of ``handle``; outcomes in the order given.

    ``settings`` are ``psfbench fit``'s (one set for all sessions; ``device`` "auto" uses
    the GPU workers when the cluster has any, through the GPU resource). ``progress``
    receives :class:`psfbench.core.fit.progress.Progress` events (stage "fits", with ETA) as fits
    finish. A session that fails (cannot be fitted, or its worker died repeatedly) is an
    outcome with ``error``. Raises BatchSetupError for bad settings or a session given twice.
    """
    from distributed import as_completed

    from psfbench.core.fit.session_fit import FitSetupError

    paths = [str(Path(s)) for s in sessions]
    if not paths:
        raise BatchSetupError("no sessions given")
    resolved = [str(Path(p).resolve()) for p in paths]
    dup = sorted({p for p in resolved if resolved.count(p) > 1})
    if dup:
        raise BatchSetupError(f"session given more than once: {', '.join(dup)}")
    try:
        settings.validate()
    except FitSetupError as exc:
        raise BatchSetupError(str(exc)) from None
    client = handle.client
    resources, device = task_resources(client, settings.device)
    doc = settings.with_(device=device).to_json()
    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            fit_session_task,
            resolved[i],
            doc,
            int(handle.threads_per_task),
            write,
            key=f"psfbench-fit-{i:05d}-{Path(path).name}-{run}",
            resources=resources,
            pure=False,
        ): i
        for i, path in enumerate(paths)
    }
    outcomes: list[SessionOutcome | None] = [None] * len(paths)
    timer = StageTimer("fits", len(paths), progress)
    if progress is not None:  # the bar from the start, before the first task ends
        progress(Progress("fits", 0, len(paths), 0.0, None))
    for fut in as_completed(list(futures)):
        i = futures[fut]
        try:
            outcomes[i] = SessionOutcome(**{**fut.result(), "session": paths[i]})
        except Exception as exc:  # a bug in the fit, or KilledWorker after repeated deaths
            outcomes[i] = SessionOutcome(paths[i], error=f"{type(exc).__name__}: {exc}")
        timer.advance(1)
    return [o for o in outcomes if o is not None]


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None or not math.isfinite(v) else format(v, fmt)


def display_names(paths: Sequence[str]) -> list[str]:
    """Each path's shortest tail that no other path ends with: the folder's name, or as many
    parent folders as tell sessions apart (sims/s3 and other/s3), at most the path as given."""
    parts = [Path(p).parts or (p,) for p in paths]
    depth = [1] * len(paths)

    def name(i: int) -> str:
        return str(Path(*parts[i][-depth[i] :]))

    while True:
        names = [name(i) for i in range(len(paths))]
        clash = [i for i, n in enumerate(names) if names.count(n) > 1 and depth[i] < len(parts[i])]
        if not clash:
            return names
        for i in clash:
            depth[i] += 1


def format_report(outcomes: Sequence[SessionOutcome]) -> str:
    """The batch's table: per session A, its sd, e (mm), its sd, loss, error against the
    truth of simulated sessions, warnings (numbered below the table) or the error. Sessions
    are named by their folder's name, with parent folders where two names are alike."""
    names = display_names([o.session for o in outcomes])
    name_w = max([7, *(len(n) for n in names)]) + 2
    head = (
        f"{'session':{name_w}s}{'A':>10s}{'± A':>9s}{'e (mm)':>10s}{'± e':>9s}"
        f"{'loss':>11s}{'A err':>9s}{'e err':>9s}  notes"
    )
    lines = [head, "-" * len(head)]
    notes: list[str] = []
    for o, name in zip(outcomes, names, strict=True):
        if not o.ok:
            lines.append(f"{name:{name_w}s}{'FAILED':>10s}  {o.error}")
            continue
        a_err = e_err = "-"
        if o.truth is not None and o.A is not None and o.e is not None:
            a_err = f"{100 * (o.A - o.truth['A']) / o.truth['A']:+.2f}%"
            e_err = f"{o.e - o.truth['e']:+.4f}"
        refs = []
        for w in o.warnings:
            notes.append(f"[{len(notes) + 1}] {name}: {w}")
            refs.append(f"[{len(notes)}]")
        lines.append(
            f"{name:{name_w}s}{_num(o.A, '10.2f')}{_num(o.A_std, '9.2f')}"
            f"{_num(o.e, '10.4f')}{_num(o.e_std, '9.4f')}{_num(o.loss, '11.5g')}"
            f"{a_err:>9s}{e_err:>9s}  {' '.join(refs) or '-'}"
        )
    n_ok = sum(o.ok for o in outcomes)
    lines.append(f"{n_ok} of {len(outcomes)} sessions fitted")
    return "\n".join(lines + notes)
