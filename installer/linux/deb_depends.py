"""Print the .deb's ``Depends:`` for a PyInstaller bundle, derived from the bundle itself.

Every ELF file's ``NEEDED`` libraries that the bundle does not carry (PyInstaller leaves out
glibc, libGL/libEGL, libxcb and a few others on purpose) are looked up with ``ldconfig -p`` and
``dpkg -S`` on this (the build) machine and turned into package names; ``libc6`` gets the
highest ``GLIBC_x.y`` symbol version any file needs. A fixed list is added on top: what Qt's
xcb platform plugin needs on a lab PC (design.md: libxcb-cursor0) and what it dlopen()s
(libGL/libEGL via glvnd, the X keyboard, fonts, D-Bus), whether or not a copy is bundled.

    python3 installer/linux/deb_depends.py installer/dist/psfbench
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: the desktop stack a lab PC must have for the GUI, bundled copy or not
ALWAYS = [
    "libgl1",
    "libegl1",
    "libopengl0",
    "libxcb1",
    "libx11-xcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-util1",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libfontconfig1",
    "libdbus-1-3",
]
GLIBC_RE = re.compile(rb"GLIBC_2\.(\d+)(?:\.(\d+))?\x00")


def elf_files(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath, name)
            if p.is_symlink() or not p.is_file():
                continue
            with p.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(p)
    return out


def needed(path: Path) -> list[str]:
    text = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=False
    ).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", text)


def system_libraries() -> dict[str, str]:
    """soname -> path, from the dynamic linker's cache (x86-64 entries)."""
    text = subprocess.run(
        [shutil.which("ldconfig") or "/sbin/ldconfig", "-p"], capture_output=True, text=True
    ).stdout
    libs: dict[str, str] = {}
    for m in re.finditer(r"^\s*(\S+) \((libc6,x86-64[^)]*)\) => (\S+)$", text, re.M):
        libs.setdefault(m.group(1), m.group(3))
    return libs


def package_of(path: str) -> str | None:
    for candidate in (path, os.path.realpath(path)):
        proc = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if proc.returncode == 0:
            return proc.stdout.split(":", 1)[0].strip()
    return None


def main(bundle: Path) -> str:
    files = elf_files(bundle)
    carried = {p.name for p in bundle.rglob("*") if ".so" in p.name}
    wanted: set[str] = set()
    glibc = (2, 17)
    for f in files:
        wanted.update(n for n in needed(f) if n not in carried)
        for m in GLIBC_RE.finditer(f.read_bytes()):
            glibc = max(glibc, (int(m.group(1)), int(m.group(2) or 0)))
    syslibs = system_libraries()
    packages = set(ALWAYS)
    missing = []
    for soname in sorted(wanted):
        if soname.startswith(("ld-linux", "linux-vdso")):
            continue
        path = syslibs.get(soname)
        pkg = package_of(path) if path else None
        if pkg is None:
            missing.append(soname)
        elif pkg not in ("libc6", "libc-bin"):
            packages.add(pkg)
    if missing:
        print(f"deb_depends: no package found for {', '.join(missing)}", file=sys.stderr)
    libc = f"libc6 (>= 2.{glibc[0]}{'.' + str(glibc[1]) if glibc[1] else ''})"
    return ", ".join([libc, *sorted(packages)])


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
