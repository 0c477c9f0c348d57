"""``psfbench firmware``: firmware lookup and the avrdude command line (no board needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from psfbench.core.cli import main
from psfbench.core.devices import flashing as fl


@pytest.fixture
def fw_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for build in ("uno", "mega"):
        (tmp_path / build).mkdir()
        (tmp_path / build / fl.HEX_NAME).write_text(":00000001FF\n")
    monkeypatch.setenv(fl.ENV_FIRMWARE_DIR, str(tmp_path))
    return tmp_path


def test_documented_command_lines(fw_dir: Path) -> None:
    """The argv is docs/firmware.md's, with the hex the lookup found."""
    mega = fl.avrdude_command(fl.BOARDS["mega"], "/dev/ttyACM0", fl.find_hex(fl.BOARDS["mega"]))
    assert mega == [
        "avrdude", "-p", "atmega2560", "-c", "wiring", "-P", "/dev/ttyACM0", "-b", "115200",
        "-D", "-U", f"flash:w:{fw_dir / 'mega' / fl.HEX_NAME}:i",
    ]  # fmt: skip
    old_nano = fl.avrdude_command(fl.BOARDS["nano-old"], "COM3", Path("x.hex"), "avrdude.exe")
    assert old_nano[1:9] == ["-p", "atmega328p", "-c", "arduino", "-P", "COM3", "-b", "57600"]
    assert fl.find_hex(fl.BOARDS["nano"]) == fw_dir / "uno" / fl.HEX_NAME


def test_bundled_avrdude_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle carrying avrdude passes its avrdude.conf with -C."""
    (tmp_path / "avrdude").mkdir()
    (tmp_path / "avrdude" / "avrdude").write_text("")
    (tmp_path / "avrdude" / "avrdude.conf").write_text("")
    monkeypatch.delenv(fl.ENV_AVRDUDE, raising=False)
    monkeypatch.setattr(fl, "bundle_dir", lambda: tmp_path)
    exe, conf = fl.find_avrdude()
    assert exe == tmp_path / "avrdude" / "avrdude" and conf is not None
    argv = fl.avrdude_command(fl.BOARDS["uno"], "/dev/ttyUSB0", Path("f.hex"), exe, conf)
    assert argv[1:3] == ["-C", str(conf)]


def test_missing_firmware_names_the_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fl, "firmware_dirs", lambda: [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(fl.FlashError, match=r"a/mega/focus_controller\.hex.*make firmware"):
        fl.find_hex(fl.BOARDS["mega"])


def test_cli_dry_run_and_info(fw_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firmware", "flash", "--board", "uno", "--port", "/dev/ttyX", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"-P /dev/ttyX -b 115200 -D -U flash:w:{fw_dir / 'uno' / fl.HEX_NAME}:i" in out
    assert main(["firmware", "info"]) == 0
    out = capsys.readouterr().out
    assert str(fw_dir / "mega" / fl.HEX_NAME) in out and "serial ports:" in out


def test_cli_refuses_missing_avrdude(fw_dir: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(fl.ENV_AVRDUDE, str(fw_dir / "no-such-avrdude"))
    assert main(["firmware", "flash", "--board", "mega", "--port", "/dev/ttyX"]) == 2
    assert "avrdude not found" in capsys.readouterr().err


def test_info_devices_lists_pylon_transport_layers() -> None:
    """``psfbench info --devices``: what the installer test runs to prove the USB transport
    layer loads (in a bundle without PYLON_TL_PATH the list is empty). In a child process:
    pylon reads PYLON_CAMEMU once per process, the emulator tests must set it first."""
    pytest.importorskip("pypylon")
    proc = subprocess.run(
        [sys.executable, "-m", "psfbench.core.cli", "info", "--devices", "--json"],
        env={**os.environ, "PYLON_CAMEMU": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    info = json.loads(proc.stdout)
    assert "BaslerUsb" in info["pylon_transport_layers"]
    assert any("Emulation" in cam for cam in info["basler_cameras"])
    assert isinstance(info["serial_ports"], list)
