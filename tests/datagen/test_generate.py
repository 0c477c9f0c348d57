"""``psfbench dataset generate`` (issue 18): samples from RGB-D pairs and synthetic scenes
through a fitted PSF, WebDataset tar shards with a manifest on a Dask LocalCluster, an
interrupted run (process killed, torn files) resumed without duplicates or torn shards, and
samples regenerated bit-identically from their provenance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from psfbench.core import optics
from psfbench.core.batch import open_client
from psfbench.core.cli import main
from psfbench.core.datagen import (
    DatagenError,
    GenerationConfig,
    load_psf,
    scan_folder,
    spatial_shuffle,
)
from psfbench.core.datagen.generate import generate, regenerate_sample, verify_dataset
from psfbench.core.datagen.shards import iter_samples, read_manifest, shard_name
from psfbench.core.scenes import make_scene

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fit_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("psf") / "fit.json"
    p.write_text(json.dumps({"A": 800.0, "e": 23.6, "A_std": 4.0, "e_std": 0.01}))
    return p


@pytest.fixture(scope="module")
def rgbd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three RGB-D pairs as files: 8-bit PNG + float TIFF depth (mm), one .npy depth."""
    root = tmp_path_factory.mktemp("rgbd")
    for i, kind in enumerate(("objects", "steps", "tilted")):
        s = make_scene(kind, 72, 96, working_distance_mm=500.0, seed=i)
        rgb = np.round(np.moveaxis(np.asarray(s.aif), 0, -1) * 255).astype(np.uint8)
        cv2.imwrite(str(root / f"img{i}.png"), rgb[..., ::-1])
        if i == 2:
            np.save(root / f"img{i}_depth.npy", np.asarray(s.depth_mm))
        else:
            tifffile.imwrite(root / f"img{i}_depth.tif", np.asarray(s.depth_mm))
    return root


def _cfg(fit_json: Path, rgbd: Path, **kw: object) -> GenerationConfig:
    base: dict[str, object] = dict(
        psf=load_psf(fit_json, focal_length_mm=50.0),
        sources=scan_folder(rgbd),
        count=20,
        shard_size=3,
        seed=7,
        shuffle=True,
        noise_sd=0.01,
    )
    base.update(kw)
    return GenerationConfig(**base)  # type: ignore[arg-type]


def _gen_argv(fit_json: Path, rgbd: Path, out: Path) -> list[str]:
    return [
        "dataset", "generate", "--psf", str(fit_json), "--focal-length-mm", "50",
        "--source", str(rgbd), "--out", str(out), "--count", "20", "--shard-size", "3",
        "--seed", "7", "--shuffle", "--noise-sd", "0.01", "--device", "cpu",
        "--dashboard", "none", "--quiet",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def reference(fit_json: Path, rgbd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset generated in one go by 2 worker processes."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    with open_client(local_workers=2, dashboard_address=None, threads_per_task=1) as handle:
        rep = generate(handle, _cfg(fit_json, rgbd), out)
    assert rep.samples == rep.samples_written == 20 and len(rep.written) == 7
    return out


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("shard-*.tar"))}


def test_sources_layouts_and_errors(rgbd: Path, tmp_path: Path) -> None:
    src = scan_folder(rgbd)
    assert [p.name for p in src.pairs] == ["img0", "img1", "img2"]
    assert src.pairs[2].depth == "img2_depth.npy"
    # rgb/ + depth/ layout, depth in metres
    (tmp_path / "b" / "rgb").mkdir(parents=True)
    (tmp_path / "b" / "depth").mkdir()
    img = cv2.imread(str(rgbd / "img0.png"))
    cv2.imwrite(str(tmp_path / "b" / "rgb" / "a.png"), img)
    d = tifffile.imread(rgbd / "img0_depth.tif") / 1000.0
    tifffile.imwrite(tmp_path / "b" / "depth" / "a.tif", d.astype(np.float32))
    alt = scan_folder(tmp_path / "b", depth_scale=1000.0)
    image, depth, what = alt.load(0, 0)
    assert image.shape == (3, 72, 96) and what["source"] == "a"
    assert np.nanmax(np.abs(depth - tifffile.imread(rgbd / "img0_depth.tif"))) < 1e-3
    (tmp_path / "c").mkdir()
    cv2.imwrite(str(tmp_path / "c" / "x.png"), img)
    with pytest.raises(DatagenError, match="no depth map for 1 image"):
        scan_folder(tmp_path / "c")
    # a source changed after the configuration was made is refused
    cv2.imwrite(str(tmp_path / "b" / "rgb" / "a.png"), img[::-1])
    from psfbench.core.datagen.sources import _load_pair

    _load_pair.cache_clear()
    with pytest.raises(DatagenError, match="changed since"):
        alt.load(0, 0)


def test_spatial_shuffle_keeps_every_histogram() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((3, 40, 50), dtype=np.float32)
    out = spatial_shuffle(img, np.random.default_rng(1))
    assert out.shape == img.shape and not np.array_equal(out, img)
    for c in range(3):
        assert np.array_equal(np.sort(out[c].ravel()), np.sort(img[c].ravel()))
    # colour triples move together
    triples = {tuple(v) for v in img.reshape(3, -1).T}
    assert {tuple(v) for v in out.reshape(3, -1).T} == triples
    assert np.array_equal(out, spatial_shuffle(img, np.random.default_rng(1)))


def test_dataset_contents_and_provenance(reference: Path, fit_json: Path) -> None:
    doc = json.loads((reference / "dataset.json").read_text())
    assert doc["shards"] == "shard-{000000..000006}.tar"
    assert doc["config"]["psf"]["A"] == 800.0 and doc["config"]["psf"]["F_mm"] == 50.0
    samples = list(iter_samples(reference))
    assert [s["key"] for s in samples] == [f"{i:010d}" for i in range(20)]
    for s in samples[:6]:
        p = s["json"]
        img, sigma, depth = s["png"], s["sigma.npy"], s["depth.npy"]
        assert img.shape == (72, 96, 3) and img.dtype == np.uint8
        assert sigma.dtype == depth.dtype == np.float32 and sigma.shape == (72, 96)
        near, far = p["focus_range_mm"]
        assert near <= p["focus_depth_mm"] <= far
        want = optics.sigma_map(depth.astype(np.float64), p["focus_depth_mm"], 800.0, 50.0)
        assert np.allclose(sigma, want, rtol=1e-5, atol=1e-5)
        assert p["seed"] == [7, p["index"]] and p["shuffle"] and p["software"]["psfbench"]
        assert p["psf"]["fit_sha256"] == doc["config"]["psf"]["sha256"]
    assert len({s["json"]["focus_depth_mm"] for s in samples}) == 20


def test_regenerated_sample_is_bit_identical(reference: Path) -> None:
    """Shards were written by worker processes; this process renders them again."""
    stored = {s["key"]: s for s in iter_samples(reference, decode=False)}
    for key in ("0000000000", "0000000008", "0000000019"):
        fresh = regenerate_sample(reference, key)
        assert fresh.files == {k: v for k, v in stored[key].items() if k != "key"}
    rep = verify_dataset(reference, regenerate=3)
    assert rep.ok and rep.samples == 20 and rep.regenerated == 3


def test_killed_run_resumes_without_duplicates_or_torn_shards(
    reference: Path, fit_json: Path, rgbd: Path, tmp_path: Path
) -> None:
    """The CLI killed (SIGKILL) mid-run, then the same command again: the result is the
    uninterrupted dataset, byte for byte."""
    out = tmp_path / "ds"
    argv = [sys.executable, "-m", "psfbench.core.cli", *_gen_argv(fit_json, rgbd, out)]
    argv += ["--in-process"]
    argv[argv.index("--shard-size") + 1] = "1"  # many small shards: the kill lands mid-run
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    manifest = out / "shards.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and manifest.read_text().count("\n") >= 2:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stdout.read() if proc.stdout else ""
    done, _ = read_manifest(out)
    assert 2 <= len(done) < 20
    # resume (same arguments): completes, nothing done twice
    resume = _gen_argv(fit_json, rgbd, out) + ["--in-process"]
    resume[resume.index("--shard-size") + 1] = "1"
    assert main(resume) == 0
    records, torn = read_manifest(out)
    assert not torn and sorted(records) == list(range(20))
    keys = [s["key"] for s in iter_samples(out, decode=False)]
    assert keys == [f"{i:010d}" for i in range(20)]
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    rep = verify_dataset(out, regenerate=2)
    assert rep.ok and rep.samples == 20
    # same samples as the reference (another shard size), bit for bit
    ref = {s["key"]: s for s in iter_samples(reference, decode=False)}
    for s in iter_samples(out, decode=False):
        assert s == ref[s["key"]]


def test_torn_files_are_redone_not_taken(fit_json: Path, rgbd: Path, tmp_path: Path) -> None:
    """A temporary shard of a killed writer, a renamed shard the manifest never recorded
    (truncated), a torn manifest line: all redone on resume; the shards equal a clean run."""
    cfg = _cfg(fit_json, rgbd, shard_size=1)
    out = tmp_path / "ds"
    with open_client(local_workers=2, processes=False, dashboard_address=None) as handle:
        rep = generate(handle, cfg, out, stop_after=2)
        print("stopped after", rep.written)
        assert len(rep.written) >= 2 and rep.samples < 20
        done = sorted(rep.written)
        todo = [s for s in range(cfg.n_shards) if s not in done]
        debris = out / f".{shard_name(todo[0])}.tmp-1-abcd"
        debris.write_bytes(b"half a shard")
        full = out / shard_name(done[0])
        (out / shard_name(todo[1])).write_bytes(full.read_bytes()[:5000])  # torn, unlisted
        with open(out / "shards.jsonl", "a") as fh:
            fh.write('{"index": 5, "shard": "shard-000005.tar", "by')  # torn line
        rep2 = generate(handle, cfg, out)
        assert rep2.debris >= 1 and sorted(rep2.skipped) == done
        assert sorted(rep2.written) == todo and rep2.samples == 20
        clean = tmp_path / "clean"
        generate(handle, cfg, clean)
    assert not debris.exists()
    assert _shard_bytes(out) == _shard_bytes(clean)
    records, torn = read_manifest(out)
    assert not torn and sorted(records) == list(range(cfg.n_shards))
    assert verify_dataset(out).ok


def test_other_settings_and_foreign_folders_are_refused(
    reference: Path, fit_json: Path, rgbd: Path, tmp_path: Path
) -> None:
    with open_client(local_workers=1, processes=False, dashboard_address=None) as handle:
        with pytest.raises(DatagenError, match="other settings .*seed"):
            generate(handle, _cfg(fit_json, rgbd, seed=8), reference)
        (tmp_path / "x").mkdir()
        (tmp_path / "x" / "notes.txt").write_text("mine")
        with pytest.raises(DatagenError, match="not empty"):
            generate(handle, _cfg(fit_json, rgbd), tmp_path / "x")
    with pytest.raises(DatagenError, match="focal length"):
        load_psf(fit_json)
    with pytest.raises(DatagenError, match="NEAR <= FAR"):
        _cfg(fit_json, rgbd, focus_range_mm=(40.0, 600.0)).validate()


def test_synthetic_sources_16_bit_crop_and_verify_cli(
    fit_json: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "syn"
    argv = [
        "dataset", "generate", "--psf", str(fit_json), "--focal-length-mm", "50",
        "--source", "synthetic:objects,planes", "--size", "64x80", "--out", str(out),
        "--count", "5", "--shard-size", "4", "--bit-depth", "16", "--crop", "32x48",
        "--focus-range", "460", "560", "--focus-sampling", "linear", "--method", "scatter",
        "--device", "cpu", "--in-process", "--dashboard", "none", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    assert "5 of 5 samples in shard-{000000..000001}.tar" in capsys.readouterr().out
    samples = list(iter_samples(out))
    assert samples[0]["png"].dtype == np.uint16 and samples[0]["png"].shape == (32, 48, 3)
    assert [s["json"]["source"] for s in samples[:2]] == ["synthetic:objects", "synthetic:planes"]
    assert all(460 <= s["json"]["focus_depth_mm"] <= 560 for s in samples)
    assert main(["dataset", "verify", str(out), "--regenerate", "2"]) == 0
    assert "all bit-identical" in capsys.readouterr().out
    # a corrupted shard is reported
    shard = out / shard_name(1)
    data = bytearray(shard.read_bytes())
    data[600] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert main(["dataset", "verify", str(out), "--regenerate", "0"]) == 1
