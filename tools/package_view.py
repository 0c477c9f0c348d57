"""Build the installed layout of the ``psfbench`` import package as a tree of links.

In the source tree the package is assembled from three folders (``psfbench/`` the facade,
``core/`` and ``app/``; setup.py maps them). Python's import system follows that mapping in
editable installs, but static tools that walk the package's folder do not: mypy and
import-linter (grimp) would not find ``psfbench.core``. This script makes
``build/package-view/psfbench/`` with real directories and one symbolic link per source file,
afresh each time (so new and deleted files are always right), for those tools to read::

    python tools/package_view.py build/package-view
    MYPYPATH=build/package-view mypy -p psfbench.core
    PYTHONPATH=build/package-view lint-imports
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: folder in the source tree -> its place in the package
PARTS = {"psfbench": "psfbench", "core": "psfbench/core", "app": "psfbench/app"}


def build(out: Path) -> Path:
    """(Re)create ``out/psfbench`` as links to every ``.py`` and ``.pyi`` file; returns it."""
    target = out / "psfbench"
    if target.exists():
        shutil.rmtree(target)
    for folder, place in PARTS.items():
        src_root = ROOT / folder
        for dirpath, dirnames, filenames in os.walk(src_root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            rel = Path(dirpath).relative_to(src_root)
            dest = out / place / rel
            dest.mkdir(parents=True, exist_ok=True)
            for name in filenames:
                if name.endswith((".py", ".pyi", ".typed")):
                    (dest / name).symlink_to(Path(dirpath, name))
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "package-view")))
