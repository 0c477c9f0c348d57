"""tqdm progress bars fed by core Progress callbacks (one bar per fit stage, with ETA)."""

from __future__ import annotations

import sys
from typing import Any


class StageBars:
    def __init__(self, enabled: bool = True, unit: str = "pt") -> None:
        self.enabled = enabled
        self.unit = unit
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if p.stage != self._stage:
            self.close()
            self._stage = p.stage
            self._bar = tqdm(
                total=p.total, desc=p.stage, unit=self.unit, leave=False, file=sys.stderr
            )
        self._bar.n = p.done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
