"""Device profiles: lookup, validation errors naming file and field, open_bench."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from psfbench.core.config import EXAMPLE_REAL_TOML, ConfigError, available_profiles, load_profile
from psfbench.core.devices import Camera, DistanceSensor, FocusController, Projector
from psfbench.core.devices.factory import open_bench


@pytest.fixture(autouse=True)
def cfg_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cfg"
    d.mkdir()
    monkeypatch.setenv("PSFBENCH_CONFIG_DIR", str(d))
    return d


def test_virtual_is_built_in_and_opens() -> None:
    assert "virtual" in available_profiles()
    with open_bench("virtual", virtual_overrides={"width": 40, "height": 32}) as bench:
        assert isinstance(bench.camera, Camera)
        assert isinstance(bench.focus, FocusController)
        assert isinstance(bench.projector, Projector)
        assert isinstance(bench.sensor, DistanceSensor)
        assert bench.info.kind == "virtual" and bench.info.source == "built-in"
        lo, hi = bench.info.suggested_sweep_steps or (0, 0)
        assert 0 <= lo < hi
        bench.focus.home()
        assert bench.camera.grab().image.shape == (32, 40)
        snap = bench.snapshot()
        assert snap["focus"]["homed"] and snap["camera"]["pixel_format"] == "Mono12"


def test_example_real_profile_validates(cfg_dir: Path) -> None:
    (cfg_dir / "real.toml").write_text(EXAMPLE_REAL_TOML)
    prof, source = load_profile("real")
    assert source == str(cfg_dir / "real.toml")
    assert prof.camera.driver == "basler" and prof.camera.pixel_format == "Mono12"
    assert prof.focus.port == "/dev/ttyACM0" and prof.focus.soft_limits == (0, 4800)
    assert "real" in available_profiles()


def test_config_dir_profile_overrides_builtin(cfg_dir: Path) -> None:
    (cfg_dir / "virtual.toml").write_text("[virtual]\nwidth = 64\nheight = 48\ntrue_A = 650.0\n")
    prof, _ = load_profile("virtual")
    assert prof.virtual.true_A == 650.0 and prof.virtual.width == 64


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[camera]\nexposure_us = -5\n", "camera.exposure_us"),
        ('[camera]\npixel_format = "Mono10"\n', "camera.pixel_format"),
        ('[focus]\ndriver = "serial"\n', "focus"),
        ("[focus]\nsoft_limits = [10, 5]\n", "focus"),
        ("[camera]\nexposure = 100\n", "camera.exposure"),
        ("[virtual]\nvignetting = 2.0\n", "virtual.vignetting"),
    ],
)
def test_bad_profile_names_file_and_field(cfg_dir: Path, text: str, field: str) -> None:
    path = cfg_dir / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile("bad")
    msg = str(err.value)
    assert str(path) in msg and field in msg


def test_toml_syntax_error_names_file_and_line(cfg_dir: Path) -> None:
    path = cfg_dir / "broken.toml"
    path.write_text("[camera\nexposure_us = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: TOML syntax error.*line 1"):
        open_bench(path)


def test_missing_profile_lists_available() -> None:
    with pytest.raises(ConfigError, match="available profiles: virtual"):
        load_profile("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_profile("/nonexistent/x.toml")


def test_basler_emulated_profile_opens(cfg_dir: Path) -> None:
    pytest.importorskip("pypylon")
    path = cfg_dir / "emu.toml"
    path.write_text(
        '[camera]\ndriver = "basler"\nemulated = 1\npixel_format = "Mono8"\n'
        "roi = [0, 0, 64, 48]\n[virtual]\nwidth = 40\nheight = 32\n"
    )
    with open_bench(path) as bench:
        assert bench.info.kind == "mixed"
        assert bench.camera.info.driver == "pypylon"
        assert bench.camera.grab().image.shape == (48, 64)


def test_example_is_valid_toml_with_every_section() -> None:
    data = tomllib.loads(EXAMPLE_REAL_TOML)
    assert {"camera", "focus", "sensor", "projector"} <= set(data)


def test_lens_section_optional_and_virtual_defaults(cfg_dir: Path) -> None:
    # the built-in virtual bench: its lens F and the paper's nominal e, never the hidden truth
    prof, _ = load_profile("virtual")
    assert prof.lens.focal_length_mm is None and prof.nominal_lens() == (50.0, 23.6)
    (cfg_dir / "v2.toml").write_text("[virtual]\nF_mm = 35.0\ntrue_e_mm = 30.0\n")
    assert load_profile("v2")[0].nominal_lens() == (35.0, 23.6)
    # a real bench: only what [lens] says; unknown stays None
    (cfg_dir / "real.toml").write_text(EXAMPLE_REAL_TOML)
    assert load_profile("real")[0].nominal_lens() == (50.0, 23.6)
    (cfg_dir / "bare.toml").write_text(
        '[focus]\ndriver = "serial"\nport = "COM3"\n[sensor]\ndriver = "controller"\n'
    )
    assert load_profile("bare")[0].nominal_lens() == (None, None)
    (cfg_dir / "badlens.toml").write_text("[lens]\nfocal_length_mm = -1\n")
    with pytest.raises(ConfigError, match=r"lens\.focal_length_mm"):
        load_profile("badlens")
    (cfg_dir / "typo.toml").write_text("[lens]\nfocal_length = 50\n")
    with pytest.raises(ConfigError, match=r"lens\.focal_length"):
        load_profile("typo")
