"""A scaled-down view of what the projector shows, on the operator's screen.

Works for any projector with a ``current`` pattern (``None`` = blank): the Qt projector
(uint8, with a ``pattern_seq`` counter) and the virtual bench's ``SimProjector`` (float in
[0, 1], its world's pattern). A timer polls a cheap key (``pattern_seq``, else the identity of
``current``) and redraws only when it changed, so a fast scan costs one small downscale per
pattern and nothing between patterns. Downscaling averages blocks of pixels (a 1-px grid looks
mid-grey, as it does from across the room), then the painter smooths the rest of the way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

#: the preview image is block-averaged down to at most this many pixels on its long side
PREVIEW_MAX_PX = 640


def preview_image(pattern: np.ndarray, max_px: int = PREVIEW_MAX_PX) -> QImage:
    """``pattern`` ((H, W) or (H, W, 3), uint8 or float in [0, 1]) block-averaged by an
    integer factor to at most ``max_px`` on its long side, as an 8-bit QImage."""
    arr = np.asarray(pattern)
    h, w = arr.shape[:2]
    k = max(1, -(-max(h, w) // max_px))
    if k > 1:
        hh, ww = (h // k) * k, (w // k) * k
        a = arr[:hh, :ww].astype(np.float32)
        shape = (hh // k, k, ww // k, k) + arr.shape[2:]
        a = a.reshape(shape).mean(axis=(1, 3))
    else:
        a = arr.astype(np.float32)
    if arr.dtype != np.uint8:
        a = a * 255.0
    out = np.ascontiguousarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    oh, ow = out.shape[:2]
    if out.ndim == 2:
        return QImage(out.data, ow, oh, ow, QImage.Format.Format_Grayscale8).copy()
    return QImage(out.data, ow, oh, ow * 3, QImage.Format.Format_RGB888).copy()


class _Canvas(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.aspect = 16 / 10
        self.setMinimumSize(160, 100)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def target_rect(self) -> QRectF:
        """Where the pattern goes: the largest rectangle of its aspect ratio, centred."""
        w, h = self.width() - 2, self.height() - 2
        if w / max(h, 1) > self.aspect:
            tw, th = h * self.aspect, float(h)
        else:
            tw, th = float(w), w / self.aspect
        return QRectF(1 + (w - tw) / 2, 1 + (h - th) / 2, tw, th)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Mid))
        r = self.target_rect()
        p.fillRect(r, Qt.GlobalColor.black)  # a blank projector is black
        if self.image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(r, self.image)
        p.setPen(QPen(QColor("#808080"), 1))
        p.drawRect(r.adjusted(-0.5, -0.5, 0.5, 0.5))
        p.end()


class ProjectorPreview(QWidget):
    """The current pattern of ``source()`` (a projector or None), scaled down, with a caption.

    ``poll()`` runs on a timer every ``interval_ms``; call it directly in tests.
    """

    def __init__(
        self,
        source: Callable[[], Any],
        parent: QWidget | None = None,
        *,
        interval_ms: int = 100,
    ) -> None:
        super().__init__(parent)
        self._source = source
        self._key: tuple[Any, ...] | None = None
        self._last_current: Any = None  # held so its identity cannot be reused
        #: how many times the picture was rebuilt (tests, and a cheap sign of life)
        self.updates = 0
        self.canvas = _Canvas(self)
        self.caption = QLabel("no projector", self)
        self.caption.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.caption)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    @property
    def image(self) -> QImage | None:
        return self.canvas.image

    def poll(self) -> bool:
        """Redraw if the source's pattern changed; True when it did."""
        proj = self._source()
        if proj is None:
            key: tuple[Any, ...] = ("none",)
            current = None
        else:
            current = getattr(proj, "current", None)
            seq = getattr(proj, "pattern_seq", None)
            key = (id(proj), proj.width, proj.height, seq if seq is not None else id(current))
        if key == self._key and current is self._last_current:
            return False
        self._key = key
        self._last_current = current
        self._rebuild(proj, current)
        return True

    def _rebuild(self, proj: Any, current: np.ndarray | None) -> None:
        self.updates += 1
        if proj is None:
            self.canvas.image = None
            self.caption.setText("no projector")
            self.canvas.update()
            return
        w, h = int(proj.width), int(proj.height)
        self.canvas.aspect = w / max(h, 1)
        seq = getattr(proj, "pattern_seq", None)
        n = f" · pattern {seq}" if seq is not None else ""
        if current is None:
            self.canvas.image = None
            self.caption.setText(f"{w}×{h} px · blank (black){n}")
        else:
            self.canvas.image = preview_image(current)
            self.caption.setText(f"{w}×{h} px{n}")
        self.canvas.update()

    def shutdown(self) -> None:
        self.timer.stop()
