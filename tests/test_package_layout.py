"""The import package is ``psfbench``: the folders core/ and app/ are psfbench.core and
psfbench.app, never top-level packages of their own (issue 17)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: an import statement naming a folder as a top-level package
FOLDER_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:core|app)(?:\.|\s|$)", re.MULTILINE)


def test_no_source_imports_core_or_app_by_folder_name() -> None:
    bad = []
    for folder in ("psfbench", "core", "app", "tests", "benchmarks", "tools", "installer"):
        for path in (ROOT / folder).rglob("*.py"):
            if "build" in path.parts or "dist" in path.parts:
                continue
            if FOLDER_IMPORT.search(path.read_text(encoding="utf-8")):
                bad.append(str(path.relative_to(ROOT)))
    assert not bad, f"import core/app instead of psfbench.core/psfbench.app in: {bad}"


def test_installed_names(tmp_path: Path) -> None:
    """Outside the source tree, ``psfbench`` imports light (no torch, no Qt) and ``core`` and
    ``app`` are not importable at all."""
    code = (
        "import importlib.util, sys, psfbench\n"
        "print(psfbench.__version__)\n"
        "print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))\n"
        "print([n for n in ('core', 'app') if importlib.util.find_spec(n) is not None])\n"
        "import psfbench.core.fit, psfbench.core.cli\n"
        "print(psfbench.core.fit.__file__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] and out[1] == "[]" and out[2] == "[]", out
    assert Path(out[3]).resolve() == (ROOT / "core" / "fit" / "__init__.py").resolve()


def test_the_facade_offers_what_it_lists() -> None:
    import psfbench

    for name in psfbench.__all__:
        assert getattr(psfbench, name) is not None, name
    assert psfbench.fit_session.__name__ == "run_session_fit"
    assert psfbench.Session.__module__ == "psfbench.core.dataset.session"
