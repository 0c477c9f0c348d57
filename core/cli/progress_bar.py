"""Progress of core Progress callbacks on stderr: a tqdm bar per fit stage (with ETA) on a
terminal; on a file or a pipe (logs, CI, ``| tee``), where a bar's carriage returns pile up
into one unreadable line, a plain line when each stage starts and when it ends."""

from __future__ import annotations

import sys
import time
from typing import Any


class StageBars:
    """Callable with :class:`psfbench.core.fit.progress.Progress` (``stage``, ``done``,
    ``total``). ``interactive``: bars (True) or lines (False); default: whether stderr is a
    terminal."""

    def __init__(
        self, enabled: bool = True, unit: str = "pt", interactive: bool | None = None
    ) -> None:
        self.enabled = enabled
        self.unit = unit
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._bar: Any = None
        self._stage: str | None = None
        self._t0 = 0.0
        self._last: tuple[int, int] = (0, 0)

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        if p.stage != self._stage:
            self.close()
            self._stage = p.stage
            self._t0 = time.monotonic()
            if self.interactive:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=p.total, desc=p.stage, unit=self.unit, leave=False, file=sys.stderr
                )
            else:
                print(f"{p.stage}: {p.total} {self.unit}", file=sys.stderr, flush=True)
        self._last = (int(p.done), int(p.total))
        if self._bar is not None:
            self._bar.n = p.done
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._stage is not None and not self.interactive and self.enabled:
            done, total = self._last
            print(
                f"{self._stage}: {done}/{total} {self.unit} in {time.monotonic() - self._t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        self._stage = None
