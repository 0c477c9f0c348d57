"""Suite-wide configuration: offscreen Qt, device markers, shared-data lookup."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Must be set before any Qt import anywhere in the suite.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# pylon reads this once per process, when its transport layer first starts: give every test
# module the same two emulated Basler cameras whatever order they run in.
os.environ.setdefault("PYLON_CAMEMU", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PSFBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hardware", action="store_true", help="run tests that need real devices")


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_hw = config.getoption("--hardware")
    has_cuda = _cuda_available()
    has_simavr = shutil.which("simavr") is not None and shutil.which("avr-gcc") is not None
    for item in items:
        if "hardware" in item.keywords and not run_hw:
            item.add_marker(pytest.mark.skip(reason="needs real hardware (pass --hardware)"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
        if "firmware" in item.keywords and not has_simavr:
            item.add_marker(
                pytest.mark.skip(reason="needs avr-gcc and simavr (run `make sysdeps` as root)")
            )


@pytest.fixture
def shared_data() -> Path:
    """The team's real captures beside the checkout (../shared/data); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request: pytest.FixtureRequest) -> str:
    """Run a test on CPU, and on CUDA when present."""
    return str(request.param)
