"""Builds and runs the firmware's host-side doctest suite (parser, CRC, ramp, Modbus, limits).

The pure logic is compiled for the PC so `make test` checks it without the AVR toolchain.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


@pytest.mark.skipif(
    shutil.which("g++") is None or not Path("/usr/include/doctest/doctest.h").exists(),
    reason="needs g++ and doctest-dev (make sysdeps)",
)
def test_firmware_unit_tests_pass() -> None:
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE), "test"], capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    m = re.search(r"test cases:\s+(\d+) \|\s+(\d+) passed \|\s+(\d+) failed", out)
    assert m, out[-2000:]
    total, passed, failed = map(int, m.groups())
    assert failed == 0 and passed == total and total >= 15, out[-2000:]
