"""The built wheel installs one import package, ``psfbench``: no top-level ``core`` or ``app``.

The folders stay ``core/`` and ``app/`` in the source tree; setup.py maps them to
``psfbench.core`` and ``psfbench.app``. This builds the wheel the way ``make installer`` does
(``pip wheel --no-deps --no-build-isolation``, offline) from a fresh copy of the sources (a
stale setuptools ``build/lib`` in the checkout cannot leak in) and reads its file list.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = {"psfbench": "psfbench", "core": "psfbench/core", "app": "psfbench/app"}


def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for lic in ROOT.glob("LICEN[CS]E*"):
        shutil.copy2(lic, src / lic.name)
    for folder in PACKAGE_FOLDERS:
        shutil.copytree(
            ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.nb[ci]")
        )
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "-w", str(out), str(src)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("psfbench-*.whl")
    return wheel


def test_wheel_has_only_the_psfbench_package(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"psfbench"}, sorted(top)
    assert not [n for n in names if n.startswith(("core/", "app/"))]

    # every module of the three folders is in the wheel, at its psfbench.* place
    expected = {
        f"{place}/{py.relative_to(ROOT / folder).as_posix()}"
        for folder, place in PACKAGE_FOLDERS.items()
        for py in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in py.parts
    }
    assert expected - set(names) == set()

    (info,) = dist_info
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "psfbench = psfbench.core.cli:main" in entry_points
    assert "psfbench-gui = psfbench.app.main:main" in entry_points
    assert "gui = psfbench.app.cli_gui" in entry_points
