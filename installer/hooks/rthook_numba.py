"""PyInstaller runtime hook: a writable numba cache for the compiled kernels (core/jit.py).

The bundle is installed read-only (/opt/psfbench, Program Files), so numba cannot cache beside
the modules. In a frozen program numba stamps its cache with the executable's hash, so
``psfbench`` and ``psfbench-gui`` sharing one folder would invalidate each other's entries on
every alternate start; each executable gets its own folder under the user's cache directory
(``NUMBA_CACHE_DIR``; a value the user set is kept). When that folder cannot be written, a
per-user folder in the temporary directory is used; compiling on every start is the worst case.
"""

import os
import sys
import tempfile


def _user_cache_dir() -> str:
    if sys.platform == "win32":
        return os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches")
    return os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


if not os.environ.get("NUMBA_CACHE_DIR"):
    _exe = os.path.splitext(os.path.basename(sys.executable))[0]
    _user = getattr(os, "getuid", lambda: os.environ.get("USERNAME", "user"))()
    for _base in (
        os.path.join(_user_cache_dir(), "psfbench", "numba"),
        os.path.join(tempfile.gettempdir(), f"psfbench-numba-{_user}"),
    ):
        if _writable(os.path.join(_base, _exe)):
            os.environ["NUMBA_CACHE_DIR"] = os.path.join(_base, _exe)
            break
