"""End to end: ``psfbench defocus train`` on a tiny rendered set, then ``defocus map``."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import tifffile

from psfbench.core.cli import main
from psfbench.core.datagen import GenerationConfig, PsfSpec
from psfbench.core.datagen.shards import append_manifest, write_config, write_shard
from psfbench.core.datagen.sources import synthetic_sources
from psfbench.core.defocus.infer import read_map_info


def test_train_tiny_model_then_map_an_image(tmp_path, capsys) -> None:
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"A": 800.0, "e": 23.6, "A_std": 1.0, "e_std": 0.01}))
    model = tmp_path / "tiny"
    rc = main(
        [
            "defocus", "train", "--psf", str(fit), "--focal-length-mm", "50",
            "--scenes", "24", "--kinds", "planes", "--size", "64x96",
            "--levels", "2", "--step", "4", "--widths", "4,8,8,16",
            "--epochs", "12", "--patience", "12", "--seed", "3", "--threads", "1",
            "--device", "cpu", "--out", str(model),
        ]
    )  # fmt: skip
    assert rc == 0
    cap = capsys.readouterr()
    assert "held-out accuracy" in cap.out
    assert "warning: only " in cap.err and "training patches" in cap.err  # a tiny set is told
    info = json.loads((tmp_path / "tiny.json").read_text())
    assert info["psf"]["fit_sha256"] == hashlib.sha256(fit.read_bytes()).hexdigest()
    assert info["psf"]["model"] == {
        "name": "gaussian",
        "params": {"A": 800.0, "e_mm": 23.6},
        "std": {"A": 1.0, "e_mm": 0.01},
    }
    assert info["training"]["n_val_samples"] >= 1 and info["training"]["epochs_run"] >= 1
    assert info["training_set"]["generator"]["psf"]["A"] == 800.0
    assert (tmp_path / "tiny.safetensors").stat().st_size > 1000

    # an image the model never saw: a sharp dead-leaves-like texture, its right half blurred
    # by OpenCV's Gaussian (an independent blur) with sigma 4 px
    rng = np.random.default_rng(11)
    img = np.zeros((96, 160), np.float32)
    for _ in range(1500):
        c = (int(rng.integers(0, 160)), int(rng.integers(0, 96)))
        cv2.circle(img, c, int(rng.integers(1, 7)), float(rng.random()), -1)
    blurred = cv2.GaussianBlur(img, (0, 0), 4.0, borderType=cv2.BORDER_REFLECT)
    img[:, 80:] = blurred[:, 80:]
    session = tmp_path / "s1"
    (session / "frames").mkdir(parents=True)
    (session / "session.json").write_text("{}")
    frame = session / "frames" / "frame_0003.tif"
    tifffile.imwrite(frame, np.round(img * 65535).astype(np.uint16))
    rc = main(
        [
            "defocus", "map", str(frame), "--model", str(model), "--device", "cpu",
            "--depth-out", str(tmp_path / "depth.tif"), "--focus-mm", "500",
        ]
    )  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "cannot tell in front of the focus plane from behind it" in out
    target = session / "results" / "defocus" / "frame_0003.tif"  # the session layout
    sigma = tifffile.imread(target)
    assert sigma.shape == img.shape and sigma.dtype == np.float32
    assert np.isfinite(sigma).all() and sigma.min() >= 0.0 and sigma.max() <= 4.0
    left, right = float(sigma[:, 8:64].mean()), float(sigma[:, 96:152].mean())
    assert right > left + 1.0, (left, right)
    assert read_map_info(target)["psf"]["name"] == "gaussian"
    near = tifffile.imread(tmp_path / "depth-near.tif")
    far = tifffile.imread(tmp_path / "depth-far.tif")
    assert (near <= 500.0 + 1e-3).all() and (np.nan_to_num(far, nan=1e9) >= 500.0 - 1e-3).all()


def test_train_from_a_generated_dataset_folder(tmp_path, capsys) -> None:
    """``--dataset``: patches from the shards ``psfbench dataset generate`` writes."""
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"A": 800.0, "e": 23.6}))
    # the shards psfbench dataset generate writes, made here without a Dask cluster
    data = tmp_path / "data"
    data.mkdir()
    cfg = GenerationConfig(
        psf=PsfSpec(A=800.0, F_mm=50.0),
        sources=synthetic_sources("planes", (64, 96)),
        count=6,
        shard_size=4,
        focus_range_mm=(430.0, 600.0),
    )
    write_config(data, cfg)
    for shard in range(cfg.n_shards):
        append_manifest(data, write_shard(data, shard))
    assert main(
        [
            "defocus", "train", "--psf", str(fit), "--dataset", str(data), "--levels", "20",
            "--widths", "2,2,2,2", "--epochs", "1", "--batch-size", "8", "--threads", "1",
            "--device", "cpu", "--out", str(tmp_path / "m"), "--quiet",
        ]
    ) == 0  # fmt: skip
    info = json.loads((tmp_path / "m.json").read_text())
    # 6 planes of 64x96 at stride 16 (3 x 5 windows each), one sigma per plane
    assert info["training_set"]["patches"] == 6 * 15
    assert info["training_set"]["samples"] == 6
    assert info["psf"]["dataset"]["A"] == 800.0
    assert sum(info["training_set"]["per_level"]) == 90


def test_training_set_warnings() -> None:
    from psfbench.core.cli.cmd_defocus import training_set_warnings

    assert training_set_warnings(20000, [1000] * 20, 1.0) == []
    few = training_set_warnings(800, [40] * 20, 1.0)
    assert len(few) == 1 and "only 800 training patches" in few[0]
    holes = training_set_warnings(20000, [1000] * 18 + [3, 0], 1.0)
    assert len(holes) == 1 and "2 of 20 levels" in holes[0] and "sigma 18, 19 px" in holes[0]
