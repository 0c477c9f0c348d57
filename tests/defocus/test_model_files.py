"""Model files (safetensors + JSON, no pickle) and rendering training data through a PSF model."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from psfbench.core.datagen import DatagenError, GenerationConfig, PsfSpec, make_sample
from psfbench.core.datagen.sources import synthetic_sources
from psfbench.core.defocus.model import (
    DefocusModel,
    DefocusModelError,
    ModelSpec,
    PatchNet,
    load_model,
    model_paths,
    save_model,
)


def test_save_load_round_trip_without_pickle(tmp_path) -> None:
    torch.manual_seed(0)
    spec = ModelSpec(patch=16, levels=5, step=0.5, widths=(4, 4, 8, 8))
    net = PatchNet(spec)
    # make batch-norm statistics non-trivial
    net.train()
    net(torch.randn(8, 1, 16, 16))
    net.eval()
    w, j = save_model(DefocusModel(net, spec, {"psf": {"fit_sha256": "ab"}}), tmp_path / "m")
    assert (w.name, j.name) == ("m.safetensors", "m.json")
    # the file is safetensors: an 8-byte little-endian header length, then JSON
    raw = w.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"]["format"] == "psfbench.defocus-model/1"
    assert set(header) - {"__metadata__"} == set(net.state_dict())
    assert b"pickle" not in raw and not raw.startswith(b"PK")  # not torch.save's zip/pickle
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.spec == spec and loaded.info["psf"]["fit_sha256"] == "ab"
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded.net(x), net(x), rtol=0, atol=0)


def test_bad_model_files_are_refused(tmp_path) -> None:
    spec = ModelSpec(patch=16, levels=3, widths=(2, 2, 2, 2))
    w, j = save_model(DefocusModel(PatchNet(spec), spec), tmp_path / "m")
    with pytest.raises(DefocusModelError, match="missing"):
        load_model(tmp_path / "other")
    # architecture that does not fit the weights
    doc = json.loads(j.read_text())
    doc["architecture"]["levels"] = 4
    j.write_text(json.dumps(doc))
    with pytest.raises(DefocusModelError, match="do not load"):
        load_model(tmp_path / "m")
    doc["architecture"]["levels"] = 3
    doc["format"] = "something else"
    j.write_text(json.dumps(doc))
    with pytest.raises(DefocusModelError, match="not a psfbench.defocus-model/1"):
        load_model(tmp_path / "m")
    doc["format"] = "psfbench.defocus-model/1"
    j.write_text(json.dumps(doc))
    w.write_bytes(w.read_bytes()[:100])  # truncated weights
    with pytest.raises(DefocusModelError, match="do not load"):
        load_model(tmp_path / "m")
    assert model_paths(tmp_path / "x.json") == (tmp_path / "x.safetensors", tmp_path / "x.json")


def _cfg(psf_model: dict | None, A: float) -> GenerationConfig:
    return GenerationConfig(
        psf=PsfSpec(A=A, F_mm=50.0),
        sources=synthetic_sources("planes", (48, 64)),
        count=2,
        focus_range_mm=(420.0, 420.0),
        store_depth=False,
        psf_model=psf_model,
    )


def test_generator_renders_through_a_disc_model() -> None:
    """A disc model's samples match the virtual bench's own disc renderer (an independent
    implementation: core/bench/psf.py) for the same disc, and differ from the Gaussian's."""
    from psfbench.core.bench.psf import disc_blur
    from psfbench.core.optics import DEFAULT_OMEGA
    from psfbench.core.psfmodels import PsfModel

    A = 400.0
    disc = PsfModel.create("disc", {"A": A, "e_mm": 23.6, "edge": 0.0}).to_json()
    cfg = _cfg(disc, A)
    s = make_sample(cfg, 0)
    assert s.params["psf"]["psf_model"]["name"] == "disc"
    sigma = float(s.sigma[0, 0])
    assert 5.0 < sigma < 10.0 and np.ptp(s.sigma) == 0.0  # a plane: one sigma
    aif, _, _ = cfg.sources.load(0, s.params["scene_seed"])
    # the bench's disc has radius sigma_b / (2 omega); its second moment is R / 2
    ref = disc_blur(aif, np.full(s.sigma.shape, sigma * 4.0 * DEFAULT_OMEGA, np.float32))
    ref8 = np.round(np.clip(np.moveaxis(ref, 0, -1), 0, 1) * 255)
    inner = (slice(12, -12), slice(12, -12))
    err_disc = np.abs(s.image[inner].astype(float) - ref8[inner]).mean()
    g = make_sample(_cfg(None, A), 0)
    err_gauss = np.abs(g.image[inner].astype(float) - ref8[inner]).mean()
    assert err_disc < 1.0 < err_gauss, (err_disc, err_gauss)  # 8-bit levels


def test_psf_model_configuration_round_trip_and_gaussian_unchanged() -> None:
    from psfbench.core.psfmodels import PsfModel

    plain = _cfg(None, 800.0)
    assert "psf_model" not in plain.to_json()  # Gaussian datasets keep their dataset.json
    assert "psf_model" not in make_sample(plain, 0).params["psf"]
    disc = PsfModel.create("disc", {"A": 800.0, "e_mm": 23.6, "edge": 0.3}).to_json()
    cfg = _cfg(disc, 800.0)
    again = GenerationConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert again == cfg
    with pytest.raises(DatagenError, match="differs from the PSF's A"):
        _cfg(disc, 700.0).validate()
    with pytest.raises(DatagenError, match="PSF model"):
        _cfg({"name": "disc", "params": {"A": 800.0}}, 800.0).validate()


def test_training_psf_from_a_disc_fit(tmp_path) -> None:
    """A fit with a disc model: the disc by default, the fit's own Gaussian with --model
    gaussian, the fit file's SHA-256 either way."""
    import hashlib

    from psfbench.core.defocus.trainset import load_training_psf

    disc = {"name": "disc", "params": {"A": 428.0, "e_mm": 23.6, "edge": 0.28}, "std": {}}
    doc = {"A": 460.7, "e": 23.59, "A_std": 3.5, "e_std": 0.001, "model": disc,
           "models": {"preferred": "disc", "table": [{**disc, "fit_loss": 1.0}]}}  # fmt: skip
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps(doc))
    sha = hashlib.sha256(fit.read_bytes()).hexdigest()
    d = load_training_psf(fit, focal_length_mm=50.0)
    assert d.model["name"] == "disc" and d.model["params"]["edge"] == 0.28
    assert d.spec.A == 428.0 and d.spec.sha256 == sha and d.spec.F_mm == 50.0
    g = load_training_psf(fit, focal_length_mm=50.0, model="gaussian")
    assert g.model["params"] == {"A": 460.7, "e_mm": 23.59} and g.model["std"]["A"] == 3.5
    assert g.spec.A == 460.7 and g.spec.sha256 == sha
    with pytest.raises(DatagenError, match="focal length"):
        load_training_psf(fit)  # no session beside it, no F given
