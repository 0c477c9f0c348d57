"""``psfbench dataset generate`` on Dask: one task per missing shard, the manifest kept by
the driver.

:func:`prepare_output` creates ``OUT/dataset.json`` or checks that an existing one holds the
same configuration (a resumed run), removes debris of interrupted writes and returns the shards
already done; :func:`generate` submits one :func:`psfbench.core.datagen.shards.write_shard` task per
missing shard and appends each finished shard's record to ``shards.jsonl`` as it arrives.
Workers read the configuration from ``OUT/dataset.json``, so OUT must be on a filesystem every
worker sees (the same path), as on a cluster's shared storage.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psfbench.core.datagen.psf import DatagenError
from psfbench.core.datagen.sample import GenerationConfig, check_crop, make_sample, sample_key
from psfbench.core.datagen.shards import (
    CONFIG_FILE,
    LOCK_FILE,
    append_manifest,
    completed_shards,
    iter_shard,
    load_config,
    read_manifest,
    remove_debris,
    rewrite_manifest,
    shard_name,
    write_config,
    write_shard,
)


@dataclass
class GenerateReport:
    """What a run did: shards written now and found done, samples written now and in the
    dataset, wall seconds, debris removed (temporary files of interrupted writes)."""

    out: Path
    written: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    samples_written: int = 0
    samples: int = 0
    wall_s: float = 0.0
    debris: int = 0

    @property
    def samples_per_s(self) -> float:
        return self.samples_written / self.wall_s if self.wall_s > 0 else 0.0


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [path or "(root)"]


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One generating process per output folder (an advisory lock; released on exit)."""
    import fcntl

    with open(out / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatagenError(f"{out}: another psfbench run is generating into it") from None
        yield


def prepare_output(out: Path, cfg: GenerationConfig) -> tuple[dict[int, dict[str, Any]], int]:
    """Create or check ``out`` for ``cfg``; returns (shards done, debris files removed).

    A folder with another configuration is refused (DatagenError naming the differing
    settings); a non-empty folder that is not a dataset too."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / CONFIG_FILE).exists():
        stored = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8")).get("config")
        # the stored JSON and ours compared as JSON (tuples and lists alike)
        mine = json.loads(json.dumps(cfg.to_json()))
        diff = _differences(stored, mine)
        if diff:
            raise DatagenError(
                f"--out {out}: holds a dataset made with other settings ({', '.join(diff[:6])}"
                "); resume with the same arguments or choose another folder"
            )
    else:
        others = [p.name for p in out.iterdir() if p.name != LOCK_FILE]
        if others:
            raise DatagenError(f"--out {out}: not empty and not a psfbench dataset")
        write_config(out, cfg)
    debris = remove_debris(out)
    records, torn = read_manifest(out)
    done = completed_shards(out, cfg)
    if torn or len(done) != len(records):
        rewrite_manifest(out, done)  # drop torn lines and records of shards not on disk
    return done, len(debris)


ProgressFn = Callable[[Any], None]


def generate(
    handle: Any,
    cfg: GenerationConfig,
    out_dir: str | Path,
    *,
    progress: ProgressFn | None = None,
    stop_after: int | None = None,
) -> GenerateReport:
    """Generate (or resume) the dataset ``cfg`` in ``out_dir`` on the cluster of ``handle``
    (:class:`psfbench.core.batch.cluster.ClusterHandle`). ``progress`` receives
    :class:`psfbench.core.fit.progress.Progress` events (stage "shards"). ``stop_after``: stop once
    that many shards were written in this run, after the shards then being written (an
    interruption, for tests). Raises
    DatagenError; a failing shard cancels the rest (shards already listed stay done)."""
    from distributed import as_completed

    from psfbench.core.batch.cluster import GPU_RESOURCE
    from psfbench.core.fit.progress import Progress, StageTimer

    cfg.validate()
    check_crop(cfg)  # before OUT is created or written
    out = Path(out_dir)
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        done, debris = prepare_output(out, cfg)
        report = GenerateReport(out, skipped=sorted(done), debris=debris)
        todo = [s for s in range(cfg.n_shards) if s not in done]
        client = handle.client
        resources = {GPU_RESOURCE: 1} if cfg.device.startswith("cuda") else None
        threads = int(handle.threads_per_task)
        run = uuid.uuid4().hex[:8]
        futures = [
            client.submit(
                _shard_task,
                str(out.resolve()),
                s,
                threads,
                key=f"psfbench-shard-{s:06d}-{run}",
                resources=resources,
                pure=False,
            )
            for s in todo
        ]
        timer = StageTimer("shards", len(todo), progress)
        if progress is not None:  # the bar from the start, before the first task ends
            progress(Progress("shards", 0, len(todo), 0.0, None))
        stopping = False
        try:
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                record = fut.result()
                append_manifest(out, record)
                report.written.append(int(record["index"]))
                report.samples_written += int(record["count"])
                timer.advance(1)
                if stop_after is not None and not stopping and len(report.written) >= stop_after:
                    # a graceful stop: shards being written are finished and recorded, no
                    # new one starts
                    stopping = True
                    running = {k for keys in client.processing().values() for k in keys}
                    client.cancel([f for f in futures if not f.done() and f.key not in running])
        finally:
            client.cancel([f for f in futures if not f.done()])
        final = completed_shards(out, cfg)
        report.samples = sum(int(r["count"]) for r in final.values())
    report.wall_s = time.perf_counter() - t0
    return report


def _shard_task(out_dir: str, shard: int, threads: int) -> dict[str, Any]:
    from psfbench.core.batch.cluster import set_task_threads

    set_task_threads(threads)
    return write_shard(out_dir, shard)


# ----------------------------------------------------------------------------- provenance


def regenerate_sample(out_dir: str | Path, key: str | int) -> Any:
    """Sample ``key`` rendered again from ``OUT/dataset.json`` alone (a
    :class:`psfbench.core.datagen.sample.Sample`): bit-identical to the stored one with the same
    software versions and device type."""
    cfg = load_config(out_dir)
    return make_sample(cfg, int(key))


@dataclass
class VerifyReport:
    shards: int = 0
    samples: int = 0
    missing_shards: list[int] = field(default_factory=list)
    bad_shards: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    regenerated: int = 0
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing_shards or self.bad_shards or self.duplicates or self.mismatched)


def verify_dataset(out_dir: str | Path, *, regenerate: int = 0, seed: int = 0) -> VerifyReport:
    """Check every listed shard against the manifest (SHA-256, sample keys in order, no key
    twice) and regenerate ``regenerate`` samples picked at random from their provenance,
    comparing every member byte for byte."""
    import numpy as np

    from psfbench.core.datagen.shards import sha256_of

    out = Path(out_dir)
    cfg = load_config(out)
    records, _ = read_manifest(out)
    rep = VerifyReport()
    seen: set[str] = set()
    for s in range(cfg.n_shards):
        rec = records.get(s)
        if rec is None:
            rep.missing_shards.append(s)
            continue
        path = out / shard_name(s)
        if not path.is_file() or sha256_of(path) != rec.get("sha256"):
            rep.bad_shards.append(shard_name(s))
            continue
        keys = [smp["key"] for smp in iter_shard(path, decode=False)]
        expected = [sample_key(i) for i in cfg.shard_indices(s)]
        if keys != expected:
            rep.bad_shards.append(shard_name(s))
        rep.duplicates += [k for k in keys if k in seen]
        seen.update(keys)
        rep.shards += 1
        rep.samples += len(keys)
    if regenerate > 0 and seen:
        rng = np.random.default_rng(seed)
        picks = sorted(rng.choice(sorted(seen), size=min(regenerate, len(seen)), replace=False))
        stored = {}
        for s in sorted({int(k) // cfg.shard_size for k in picks}):
            for smp in iter_shard(out / shard_name(s), decode=False):
                if smp["key"] in picks:
                    stored[smp["key"]] = smp
        for k in picks:
            fresh = regenerate_sample(out, k)
            old = {e: v for e, v in stored[k].items() if e != "key"}
            if old != fresh.files:
                rep.mismatched.append(k)
            rep.regenerated += 1
    return rep
