from __future__ import annotations

from pathlib import Path

import pytest

from psfbench.core.simulation import SimulationSpec, simulate_session


@pytest.fixture(scope="session")
def small_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSpec]:
    """One simulated session shared by the quick fit tests (A=800, e=23.6, planes)."""
    spec = SimulationSpec(
        A=800.0, e_mm=23.6, scene="planes", frames=12, height=97, width=121, seed=5
    )
    path = tmp_path_factory.mktemp("fit") / "session"
    simulate_session(path, spec)
    return path, spec
