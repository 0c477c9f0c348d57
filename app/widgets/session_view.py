"""Viewer of one session folder: the sweep's frames, the depth map and the all-in-focus image.

Everything is read from disk on a worker thread (:class:`psfbench.app.widgets.background.
BackgroundTasks`): opening a session, each frame asked for by the slider (latest-only: dragging
the slider over 200 frames loads the last one asked for, not all 200), the depth map and the
AIF. The three image views share their zoom and pan (they show the same pixels).

* **Frames**: a slider over the recorded frames in sweep order, with each frame's sweep index,
  sensor distance d, focus depth Df where given, motor position, exposure and time; percentile
  auto-levels (settings ``contrast_percentiles``) per frame, or fixed levels set by hand on the
  histogram.
* **Depth map**: a colour map with a colour bar in mm (levels = 1st-99th percentile of the
  valid pixels, draggable); NaN holes drawn in magenta and counted.
* **All-in-focus**: the AIF image with percentile levels.
* **Defocus map**: the per-pixel sigma map (px) of the frame on screen, if ``psfbench defocus
  map`` wrote one (``SESSION/results/defocus/<frame>.tif``), with a colour bar in px; the
  frame and its map share zoom and pan.

Hovering over an image shows the pixel under the cursor and its value.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.background import BackgroundTasks
from psfbench.app.widgets.inputs import action_button

log = logging.getLogger(__name__)

DEFAULT_PERCENTILES = (0.5, 99.5)
#: frames kept in memory for quick back-and-forth on the slider
_CACHE_BYTES = 256 * 1024 * 1024
HOLE_RGBA = (255, 0, 255, 255)  # magenta: not in viridis, visible on any background


# ---------------------------------------------------------------------------- image helpers


def _sample(img: np.ndarray, max_samples: int = 250_000) -> np.ndarray:
    h, w = img.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / max_samples))))
    return img[::step, ::step]


def auto_levels(
    img: np.ndarray, percentiles: tuple[float, float] = DEFAULT_PERCENTILES
) -> tuple[float, float]:
    """Display levels from percentiles of the finite pixels (a few hot pixels do not wash the
    image out, gui-anchors B17); never an empty range."""
    sample = np.asarray(_sample(img), dtype=np.float64)
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, percentiles))
    if not hi > lo:
        lo, hi = float(sample.min()), float(sample.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def thumbnail(img: np.ndarray, max_side: int = 96) -> np.ndarray:
    """A small uint8 copy ((h, w) or (h, w, 3)) with percentile levels, for tables."""
    h, w = img.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    small = np.asarray(img[::step, ::step], dtype=np.float32)
    if small.ndim == 3:
        small = small[..., :3]
    lo, hi = auto_levels(small, (1.0, 99.5))
    out = np.clip((small - lo) * (255.0 / (hi - lo)), 0, 255)
    out = np.nan_to_num(out, nan=0.0)
    return np.ascontiguousarray(out.astype(np.uint8))


def hole_overlay(depth: np.ndarray) -> np.ndarray:
    """RGBA image: opaque magenta where the depth map has no value (NaN), clear elsewhere."""
    rgba = np.zeros((*depth.shape[:2], 4), dtype=np.uint8)
    rgba[~np.isfinite(depth)] = HOLE_RGBA
    return rgba


def _fmt_time(ts: Any) -> str:
    if isinstance(ts, datetime):
        return ts.astimezone().strftime("%H:%M:%S")
    return ""


def record_text(rec: Any, pos: int, total: int) -> str:
    """One frame's metadata line: sweep index, d, Df, motor position, exposure, time."""
    parts = [f"frame {pos + 1}/{total}", f"index {rec.index}"]
    if rec.d_mm is not None:
        parts.append(f"d = {rec.d_mm:.3f} mm")
    if rec.focus_depth_mm is not None:
        parts.append(f"Df = {rec.focus_depth_mm:.1f} mm")
    if rec.motor_steps is not None:
        parts.append(f"motor {rec.motor_steps} steps")
    if rec.exposure_us is not None:
        parts.append(f"exposure {rec.exposure_us / 1000:.3g} ms")
    if rec.frames_averaged > 1:
        parts.append(f"{rec.frames_averaged} frames averaged")
    t = _fmt_time(rec.timestamp)
    if t:
        parts.append(t)
    return " · ".join(parts)


# ---------------------------------------------------------------------------- worker jobs
# Plain functions run on the viewer's worker thread; they return plain data.


def _open_session(path: str) -> Any:
    from psfbench.core.dataset import Session

    return Session.open(Path(path), strict=False)


def _load_frame(
    session: Any, index: int, pct: tuple[float, float]
) -> tuple[np.ndarray, tuple[float, float]]:
    img = session.frame(index)
    img.setflags(write=False)
    return img, auto_levels(img, pct)


def _load_depth(session: Any) -> dict[str, Any]:
    depth = session.depth()
    finite = np.isfinite(depth)
    valid = depth[finite]
    lo, hi = (float(v) for v in np.percentile(valid, (1.0, 99.0)))
    if not hi > lo:
        lo, hi = float(valid.min()), float(valid.max()) + 1e-3
    return {
        "depth": depth,
        "levels": (lo, hi),
        "range": (float(valid.min()), float(valid.max())),
        "holes": int(depth.size - valid.size),
        "overlay": hole_overlay(depth),
    }


def _load_defocus(path: Path) -> dict[str, Any] | None:
    """The defocus map at ``path`` (None when there is none) with its levels and JSON info."""
    if not path.is_file():
        return None
    from psfbench.core.defocus.infer import read_map_info
    from psfbench.core.imageio import read_image

    sigma = np.asarray(read_image(path), dtype=np.float32)
    finite = sigma[np.isfinite(sigma)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return {"sigma": sigma, "levels": (lo, max(hi, lo + 1e-3)), "info": read_map_info(path)}


def _load_aif(session: Any, pct: tuple[float, float]) -> tuple[np.ndarray, tuple[float, float]]:
    img = session.aif(as_float=False, channels_first=False)
    return img, auto_levels(img, pct)


# ---------------------------------------------------------------------------- the widget


class _ImageTab(QWidget):
    """A pyqtgraph image in a plot (pixel axes, y down, aspect locked) and a caption."""

    def __init__(self, hist: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(200, 150)
        self.plot = self.graphics.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.item)
        self.hist: pg.HistogramLUTItem | None = None
        if hist:
            self.hist = pg.HistogramLUTItem()
            self.hist.setImageItem(self.item)
            self.graphics.addItem(self.hist)
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.hide()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.message, 1)
        lay.addWidget(self.caption)

    def show_message(self, text: str) -> None:
        """Replace the image by a message (no AIF, unreadable depth map, ...)."""
        self.graphics.hide()
        self.message.setText(text)
        self.message.show()

    def show_image(self) -> None:
        self.message.hide()
        self.graphics.show()


class SessionView(QWidget):
    """See the module docstring. ``load(path)`` shows a session; ``shutdown()`` on close."""

    def __init__(self, settings: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._tasks = BackgroundTasks(1, name="session-view", parent=self)
        self.path: str | None = None
        self.session: Any = None
        self.records: list[Any] = []
        self.error = ""
        self._gen = 0
        self._wanted: int | None = None  # slider position asked for
        self._loading: int | None = None  # slider position being read
        self._shown: int | None = None  # slider position on screen
        self._cache: OrderedDict[int, tuple[np.ndarray, tuple[float, float]]] = OrderedDict()
        self.depth: np.ndarray | None = None
        self.depth_info: dict[str, Any] = {}
        self.pending_loads = 0  # session/depth/AIF reads not back yet (tests wait on it)

        self.header = QLabel("No session open")
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tabs = QTabWidget()

        # frames
        self.frames_tab = _ImageTab(hist=True)
        self.frame_item = self.frames_tab.item
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Frame in sweep order (arrow keys, Page Up/Down, Home/End)")
        self.slider.valueChanged.connect(self._on_slider)
        self.prev_button = action_button("◀", tooltip="Previous frame")
        self.next_button = action_button("▶", tooltip="Next frame")
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(32)
        self.prev_button.clicked.connect(lambda: self.slider.setValue(self.slider.value() - 1))
        self.next_button.clicked.connect(lambda: self.slider.setValue(self.slider.value() + 1))
        self.auto_levels_box = QCheckBox("Auto levels")
        self.auto_levels_box.setChecked(True)
        self.auto_levels_box.setToolTip(
            "Set the display levels of each frame from its own percentiles; untick to keep the "
            "levels fixed (drag them on the histogram) and compare brightness across frames"
        )
        self.auto_levels_box.toggled.connect(self._on_auto_levels)
        self.frame_label = self.frames_tab.caption
        row = QHBoxLayout()
        row.addWidget(self.prev_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.next_button)
        row.addWidget(self.auto_levels_box)
        self.frames_tab.layout().insertLayout(2, row)

        # depth map
        self.depth_tab = _ImageTab(hist=False)
        self.depth_item = self.depth_tab.item
        self.hole_item = pg.ImageItem(axisOrder="row-major")
        self.hole_item.setZValue(10)
        self.depth_tab.plot.addItem(self.hole_item)
        self.colorbar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=pg.colormap.get("viridis"),
            label="depth (mm)",
            interactive=True,
            rounding=0.1,
        )
        self.colorbar.setImageItem(self.depth_item, insert_in=self.depth_tab.plot)

        # all-in-focus
        self.aif_tab = _ImageTab(hist=True)
        self.aif_item = self.aif_tab.item

        # defocus map of the frame on screen (psfbench defocus map)
        self.defocus_tab = _ImageTab(hist=False)
        self.defocus_item = self.defocus_tab.item
        self.defocus_bar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=pg.colormap.get("viridis"),
            label="sigma (px)",
            interactive=True,
            rounding=0.1,
        )
        self.defocus_bar.setImageItem(self.defocus_item, insert_in=self.defocus_tab.plot)
        self.defocus_shown: Path | None = None

        self.tabs.addTab(self.frames_tab, "Frames")
        self.tabs.addTab(self.depth_tab, "Depth map")
        self.tabs.addTab(self.aif_tab, "All-in-focus")
        self.tabs.addTab(self.defocus_tab, "Defocus map")
        for tab in (self.depth_tab, self.aif_tab, self.defocus_tab):
            tab.plot.setXLink(self.frames_tab.plot)
            tab.plot.setYLink(self.frames_tab.plot)

        self.readout = QLabel(" ")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for tab in (self.frames_tab, self.depth_tab, self.aif_tab, self.defocus_tab):
            tab.graphics.scene().sigMouseMoved.connect(
                lambda p, t=tab: self._hover(t, p)  # type: ignore[misc]
            )

        lay = QVBoxLayout(self)
        lay.addWidget(self.header)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.readout)
        self._set_enabled(False)

    # ------------------------------------------------------------------ public

    def load(self, path: str | Path) -> None:
        """Show the session in ``path`` (read on the worker thread)."""
        self._gen += 1
        gen = self._gen
        self.path = str(path)
        self.session = None
        self.records = []
        self.error = ""
        self.depth = None
        self.depth_info = {}
        self._cache.clear()
        self._wanted = self._loading = self._shown = None
        self.frame_item.clear()
        self.depth_item.clear()
        self.hole_item.clear()
        self.aif_item.clear()
        self.defocus_item.clear()
        self.defocus_shown = None
        self.frame_label.setText("")
        self.depth_tab.caption.setText("")
        self.aif_tab.caption.setText("")
        self.defocus_tab.caption.setText("")
        self.header.setText(f"<b>{Path(path).name}</b> — reading…")
        self.setWindowTitle(f"Session — {Path(path).name}")
        self._set_enabled(False)
        self.pending_loads = 1
        self._tasks.submit(
            _open_session,
            self.path,
            on_done=lambda s: self._opened(gen, s),
            on_error=lambda e: self._open_failed(gen, e),
        )

    def show_frame(self, position: int) -> None:
        """Select the frame at ``position`` in sweep order (0 = first record)."""
        self.slider.setValue(position)

    @property
    def current_record(self) -> Any:
        if self._shown is None or not self.records:
            return None
        return self.records[self._shown]

    @property
    def busy(self) -> bool:
        return self._tasks.busy

    def shutdown(self) -> None:
        self._gen += 1
        self._tasks.shutdown()

    # ------------------------------------------------------------------ loading

    def _percentiles(self) -> tuple[float, float]:
        pct = getattr(self.settings, "contrast_percentiles", None)
        return tuple(pct) if pct else DEFAULT_PERCENTILES  # type: ignore[return-value]

    def _set_enabled(self, on: bool) -> None:
        for w in (self.slider, self.prev_button, self.next_button):
            w.setEnabled(on)

    def _opened(self, gen: int, session: Any) -> None:
        if gen != self._gen:
            return
        self.pending_loads -= 1
        self.session = session
        self.records = list(session.records)
        rep = session.validate()
        name = Path(self.path or "").name
        planned = len(session.meta.plan.steps)
        status = "valid" if rep.valid else f"INVALID ({len(rep.problems)} problems)"
        shape = "×".join(str(s) for s in reversed(rep.shape[:2])) if rep.shape else "?"
        extra = f", {rep.shape[2]} channels" if rep.shape and len(rep.shape) == 3 else ""
        self.header.setText(
            f"<b>{name}</b> — {len(self.records)}/{planned or len(self.records)} frames, "
            f"{status} · {shape} px{extra} {rep.dtype or ''} "
            f"({session.meta.camera.bit_depth}-bit) · F = {session.focal_length_mm:g} mm"
        )
        self.header.setToolTip("\n".join(rep.problems + rep.warnings) or str(self.path))
        n = len(self.records)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n - 1))
        self.slider.setPageStep(max(1, n // 10))
        self.slider.setValue(n // 2 if n else 0)
        self.slider.blockSignals(False)
        self._set_enabled(n > 1)
        if n:
            self._on_slider(self.slider.value())
        else:
            self.frames_tab.show_message("This session has no recorded frames yet.")
        self.pending_loads += 2
        if session.has_depth:
            self._tasks.submit(
                _load_depth,
                session,
                on_done=lambda r: self._depth_loaded(gen, r),
                on_error=lambda e: self._side_failed(gen, self.depth_tab, "depth map", e),
            )
        else:
            self.pending_loads -= 1
            self.depth_tab.show_message("No depth map (depth.tif) in this session.")
        if session.has_aif:
            self._tasks.submit(
                _load_aif,
                session,
                self._percentiles(),
                on_done=lambda r: self._aif_loaded(gen, r),
                on_error=lambda e: self._side_failed(gen, self.aif_tab, "all-in-focus image", e),
            )
        else:
            self.pending_loads -= 1
            self.aif_tab.show_message(
                "No all-in-focus image (aif.tif) in this session"
                + (" yet: Resume captures it." if self._aif_wanted(session) else ".")
            )

    @staticmethod
    def _aif_wanted(session: Any) -> bool:
        return session.meta.plan.parameters.get("aif_mode") == "capture"

    def _open_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self.pending_loads = 0
        self.error = str(exc)
        name = Path(self.path or "").name
        self.header.setText(f"<b>{name}</b> — cannot be opened")
        self.header.setToolTip(self.error)
        for tab in (self.frames_tab, self.depth_tab, self.aif_tab, self.defocus_tab):
            tab.show_message(f"Cannot open this session:\n{self.error}")

    def _side_failed(self, gen: int, tab: _ImageTab, what: str, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self.pending_loads -= 1
        tab.show_message(f"Cannot read the {what}:\n{exc}")

    def _depth_loaded(self, gen: int, r: dict[str, Any]) -> None:
        if gen != self._gen:
            return
        self.pending_loads -= 1
        self.depth_tab.show_image()
        self.depth = r["depth"]
        self.depth_info = r
        self.depth_item.setImage(r["depth"], autoLevels=False)
        self.colorbar.setLevels(r["levels"])
        self.hole_item.setImage(r["overlay"], autoLevels=False, levels=(0, 255))
        lo, hi = r["range"]
        holes = r["holes"]
        frac = 100.0 * holes / r["depth"].size
        hole_text = (
            f"holes (no depth): {holes} px ({frac:.1f} %), shown in magenta"
            if holes
            else "no holes"
        )
        self.depth_tab.caption.setText(f"depth {lo:.1f}–{hi:.1f} mm · {hole_text}")

    def _aif_loaded(self, gen: int, r: tuple[np.ndarray, tuple[float, float]]) -> None:
        if gen != self._gen:
            return
        self.pending_loads -= 1
        img, levels = r
        self.aif_tab.show_image()
        self.aif_item.setImage(img, autoLevels=False, levels=levels)
        h, w = img.shape[:2]
        self.aif_tab.caption.setText(f"all-in-focus image · {w}×{h} px {img.dtype}")

    # ------------------------------------------------------------------ frames

    def _on_slider(self, pos: int) -> None:
        if not self.records:
            return
        pos = max(0, min(pos, len(self.records) - 1))
        self._wanted = pos
        self.frame_label.setText(record_text(self.records[pos], pos, len(self.records)))
        if pos in self._cache:
            self._cache.move_to_end(pos)
            self._show(pos, *self._cache[pos])
            return
        if self._loading is None:
            self._request(pos)

    def _request(self, pos: int) -> None:
        gen = self._gen
        self._loading = pos
        self._tasks.submit(
            _load_frame,
            self.session,
            self.records[pos].index,
            self._percentiles(),
            on_done=lambda r: self._frame_loaded(gen, pos, r),
            on_error=lambda e: self._frame_failed(gen, pos, e),
        )

    def _frame_loaded(self, gen: int, pos: int, r: tuple[np.ndarray, tuple[float, float]]) -> None:
        if gen != self._gen:
            return
        self._loading = None
        img, levels = r
        self._cache[pos] = (img, levels)
        while len(self._cache) > 1 and sum(v[0].nbytes for v in self._cache.values()) > (
            _CACHE_BYTES
        ):
            self._cache.popitem(last=False)
        if self._wanted == pos:
            self._show(pos, img, levels)
        elif self._wanted is not None:
            self._on_slider(self._wanted)  # the slider moved on while this one was read

    def _frame_failed(self, gen: int, pos: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self._loading = None
        if self._wanted == pos:
            self.frame_item.clear()
            self._shown = None
            rec = self.records[pos]
            self.frame_label.setText(
                record_text(rec, pos, len(self.records)) + f"<br><b>cannot read:</b> {exc}"
            )
        elif self._wanted is not None:
            self._on_slider(self._wanted)

    def _show(self, pos: int, img: np.ndarray, levels: tuple[float, float]) -> None:
        first = self._shown is None and self.frame_item.image is None
        self.frames_tab.show_image()
        if self.auto_levels_box.isChecked() or first:
            self.frame_item.setImage(img, autoLevels=False, levels=levels)
        else:
            self.frame_item.setImage(img, autoLevels=False)
        self._shown = pos
        if first:
            self.frames_tab.plot.autoRange(padding=0.02)
        self._request_defocus(pos)

    # ------------------------------------------------------------------ defocus map

    def defocus_path(self, pos: int) -> Path | None:
        """Where the defocus map of the frame at ``pos`` belongs (it may not exist)."""
        if self.session is None or not self.records:
            return None
        from psfbench.core.defocus.infer import session_map_path

        return session_map_path(self.session.path, self.records[pos].frame)

    def _request_defocus(self, pos: int) -> None:
        path = self.defocus_path(pos)
        if path is None or path == self.defocus_shown:
            return
        gen = self._gen
        self.pending_loads += 1
        self._tasks.submit(
            _load_defocus,
            path,
            on_done=lambda r: self._defocus_loaded(gen, pos, path, r),
            on_error=lambda e: self._defocus_failed(gen, pos, e),
        )

    def _defocus_loaded(self, gen: int, pos: int, path: Path, r: dict[str, Any] | None) -> None:
        if gen != self._gen:
            return
        self.pending_loads -= 1
        if self._shown != pos:
            return
        self.defocus_shown = path
        rel = f"results/defocus/{path.name}"
        if r is None:
            self.defocus_item.clear()
            frame = self.records[pos].frame
            self.defocus_tab.show_message(
                f"No defocus map for {Path(frame).name}: psfbench defocus map "
                f"SESSION/{frame} --model MODEL writes {rel}."
            )
            self.defocus_tab.caption.setText("")
            return
        self.defocus_tab.show_image()
        self.defocus_item.setImage(r["sigma"], autoLevels=False)
        self.defocus_bar.setLevels(r["levels"])
        lo, hi = r["levels"]
        psf = (r["info"].get("psf") or {}).get("name", "?")
        self.defocus_tab.caption.setText(
            f"{rel} · sigma {lo:.2f}–{hi:.2f} px · trained on the {psf} PSF"
        )

    def _defocus_failed(self, gen: int, pos: int, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self.pending_loads -= 1
        if self._shown == pos:
            self.defocus_shown = None
            self.defocus_tab.show_message(f"Cannot read the defocus map:\n{exc}")

    def _on_auto_levels(self, on: bool) -> None:
        if on and self._shown is not None and self._shown in self._cache:
            self._show(self._shown, *self._cache[self._shown])

    # ------------------------------------------------------------------ hover readout

    def _hover(self, tab: _ImageTab, scene_pos: QPointF) -> None:
        item = tab.item
        img = item.image
        if img is None or not tab.plot.vb.sceneBoundingRect().contains(scene_pos):
            self.readout.setText(" ")
            return
        p = tab.plot.vb.mapSceneToView(scene_pos)
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        h, w = img.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            self.readout.setText(" ")
            return
        v = img[y, x]
        if tab is self.depth_tab:
            text = "hole (no depth)" if not np.isfinite(v) else f"depth {float(v):.2f} mm"
        elif tab is self.defocus_tab:
            text = f"sigma {float(v):.2f} px"
        elif np.ndim(v):
            text = "RGB " + ", ".join(f"{float(c):g}" for c in v)
        else:
            text = f"value {float(v):g}"
        self.readout.setText(f"x {x}, y {y}: {text}")
