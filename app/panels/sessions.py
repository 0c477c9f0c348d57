"""Session browser: the session folders in one parent folder, their state, and what to do next.

A table of the sessions in the chosen folder (default ``settings.sessions_dir``, else
``~/psfbench-sessions``; remembered): thumbnail, name, date, frames saved / planned, validity
and problems (the full text in the tooltip and the details box), depth map / AIF, and the fit
result (A, e) if any. Scanning, validating (``Session.open(strict=False).validate()``, the same
checks as ``psfbench session info``) and thumbnails run on worker threads; rows appear at once
as "reading…" and fill in as each session is done, so a folder of large sessions never
freezes the window. A broken session (unreadable ``session.json``, missing frames) is a row
with its problem, never a failed scan.

Actions on the selected session: Open (double-click; a viewer of the frames, depth map and
AIF: :class:`psfbench.app.widgets.session_view.SessionView`), Validate (the full report), Resume
(emits ``resumeRequested(path)``: the main window hands it to the sweep panel), Fit… (emits
``fitRequested(path)``) and Reveal (the folder in the file manager). The list refreshes when
a run starts or finishes.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QPoint,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QDesktopServices,
    QFontDatabase,
    QGuiApplication,
    QImage,
    QPixmap,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.background import BackgroundTasks
from psfbench.app.widgets.inputs import action_button
from psfbench.app.widgets.session_view import SessionView, thumbnail
from psfbench.core.psfmodels.text import model_summary

log = logging.getLogger(__name__)

PANEL = "sessions"
DEFAULT_DIR = "~/psfbench-sessions"
THUMB_SIZE = QSize(64, 40)
COLUMNS = ("Session", "Frames", "Status", "Date", "Depth / AIF", "Fit (A, e)")
COL_NAME, COL_FRAMES, COL_STATUS, COL_DATE, COL_EXTRAS, COL_FIT = range(len(COLUMNS))
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
RED, AMBER, GREEN = QColor("#e53935"), QColor("#e08a00"), QColor("#43a047")


# ---------------------------------------------------------------------------- scanning
# Plain Python, run on worker threads; no Qt here.


@dataclass
class SessionSummary:
    """What the table shows about one session folder."""

    path: str
    name: str
    created: datetime | None = None
    created_from_mtime: bool = False
    meta_ok: bool = False
    frames: int = 0
    planned: int | None = None
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_steps: list[int] = field(default_factory=list)
    has_depth: bool = False
    has_aif: bool = False
    aif_needed: bool = False
    resumable: bool = False
    resume_note: str = ""
    fit: dict[str, Any] | None = None
    thumbnail: np.ndarray | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def incomplete(self) -> bool:
        return bool(self.missing_steps) or self.aif_needed

    def status_text(self) -> str:
        """Short status for the table cell."""
        if not self.valid:
            first = _short_problem(self.problems[0]) if self.problems else "invalid"
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"✗ {_elide(first, 60)}{more}"
        if self.missing_steps:
            return f"◐ incomplete: {len(self.missing_steps)} missing"
        if self.aif_needed:
            return "◐ incomplete: AIF missing"
        return "✓ valid" + (f" ({len(self.warnings)} warnings)" if self.warnings else "")

    def status_rank(self) -> int:
        return 0 if not self.valid else (1 if self.incomplete else 2)

    def details_text(self) -> str:
        """Full text: problems, warnings and what resume would do."""
        lines = [self.path]
        lines += [f"problem: {p}" for p in self.problems]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.missing_steps:
            lines.append(f"missing steps: {_short_list(self.missing_steps)}")
        if self.resume_note:
            lines.append(self.resume_note)
        return "\n".join(lines)


def _short_problem(text: str) -> str:
    """``frames/frame_0002.tif: frame: file is missing`` -> ``frame_0002.tif: file is missing``
    (a DatasetError's file name and message, without the field)."""
    parts = text.split(": ")
    if len(parts) >= 3:
        return f"{parts[0].rsplit('/', 1)[-1]}: {': '.join(parts[2:])}"
    return text


def _elide(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _short_list(values: list[int], n: int = 12) -> str:
    s = ", ".join(str(v) for v in values[:n])
    return s + (f", … ({len(values)} in all)" if len(values) > n else "")


def list_session_dirs(folder: str) -> list[str]:
    """Sub-folders of ``folder`` that look like sessions (a session.json, a sweep table or a
    frames folder), sorted by name. A missing folder lists nothing."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        return []
    out = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        log.warning("%s: cannot list (%s)", root, exc)
        return []
    for entry in entries:
        try:
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            p = Path(entry.path)
            if any((p / n).exists() for n in ("session.json", "sweep.jsonl", "frames")):
                out.append(str(p))
        except OSError:
            continue
    return out


def _fit_result(root: Path) -> dict[str, Any] | None:
    """The session's fit result: ``results/fit.json`` (``psfbench fit``, psfbench.core.fit.report),
    else any ``results/<name>.json`` (``psfbench.result/1``) whose data holds A and e."""
    results = root / "results"
    if not results.is_dir():
        return None
    candidates = [results / "fit.json"] + sorted(
        p for p in results.glob("*.json") if p.name != "fit.json" and not p.name.startswith(".")
    )
    for p in candidates:
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        data = doc.get("data") if doc.get("schema") == "psfbench.result/1" else doc
        if not isinstance(data, dict):
            continue
        A = data.get("A")
        e = data.get("e", data.get("e_mm"))
        numbers = isinstance(A, int | float) and isinstance(e, int | float)
        if numbers and math.isfinite(A) and math.isfinite(e):
            out: dict[str, Any] = {"name": p.stem, "A": float(A), "e": float(e)}
            for k in ("A_std", "e_std"):
                if isinstance(data.get(k), int | float):
                    out[k] = float(data[k])
            model = data.get("model")  # psfbench fit --model: the chosen PSF model
            if isinstance(model, dict) and model.get("name") not in (None, "gaussian"):
                out["model"] = model_summary(model)
            return out
    return None


def _thumb_from_file(path: Path) -> np.ndarray | None:
    """A thumbnail of one image file, read by psfbench's one image reader
    (:func:`psfbench.core.imageio.read_image`: any format and bit depth, EXIF orientation applied);
    None (logged) when the file cannot be read."""
    from psfbench.core import imageio

    try:
        return thumbnail(imageio.read_image(path))
    except imageio.ImageFileError as exc:
        log.debug("no thumbnail: %s", exc)
        return None
    except Exception as exc:  # a thumbnail is never worth a crash of the scan
        log.debug("%s: no thumbnail (%s)", path, exc)
        return None


def _thumbnail_for(root: Path, frames: list[str], has_aif: bool) -> np.ndarray | None:
    if has_aif:
        t = _thumb_from_file(root / "aif.tif")
        if t is not None:
            return t
    for rel in frames[len(frames) // 2 :] + frames[: len(frames) // 2][::-1]:
        t = _thumb_from_file(root / rel)
        if t is not None:
            return t
    return None


def summarize_session(path: str, with_thumbnail: bool = True) -> SessionSummary:
    """Validate one session folder (never raises: problems go into the summary)."""
    root = Path(path)
    s = SessionSummary(path=str(root), name=root.name)
    try:
        _summarize(root, s, with_thumbnail)
    except Exception as exc:  # anything unexpected: a row with the problem, not a crash
        log.exception("%s: scanning failed", root)
        s.valid = False
        s.problems.append(f"cannot read this session: {type(exc).__name__}: {exc}")
    if s.created is None:
        try:
            s.created = datetime.fromtimestamp(root.stat().st_mtime, tz=UTC)
            s.created_from_mtime = True
        except OSError:
            pass
    s.report.setdefault("path", s.path)
    s.report.setdefault("valid", s.valid)
    s.report.setdefault("frames", s.frames)
    s.report.setdefault("problems", s.problems)
    s.report.setdefault("warnings", s.warnings)
    return s


def _summarize(root: Path, s: SessionSummary, with_thumbnail: bool) -> None:
    from psfbench.core.dataset import DatasetError, Session
    from psfbench.core.dataset.sweep_log import read_log

    try:
        session = Session.open(root, strict=False)
    except DatasetError as exc:  # session.json unreadable: say so, show what the log has
        s.problems.append(str(exc))
        frames: list[str] = []
        try:
            by_index, _ = read_log(root / "sweep.jsonl").latest_by_index()
            frames = [by_index[i].frame for i in sorted(by_index)]
            s.frames = len(frames)
        except DatasetError as exc2:
            s.problems.append(str(exc2))
        s.has_depth = (root / "depth.tif").is_file()
        s.has_aif = (root / "aif.tif").is_file()
        s.fit = _fit_result(root)
        if with_thumbnail:
            s.thumbnail = _thumbnail_for(root, frames, s.has_aif)
        s.report = {"path": str(root), "valid": False, "frames": s.frames, "missing_steps": []}
        return
    meta = session.meta
    rep = session.validate()
    s.meta_ok = True
    s.created = meta.provenance.created
    s.frames = rep.frames
    s.planned = len(meta.plan.steps) or None
    s.valid = rep.valid
    s.problems = list(rep.problems)
    s.warnings = list(rep.warnings)
    s.missing_steps = list(rep.missing_steps)
    s.has_depth = rep.has_depth
    s.has_aif = rep.has_aif
    params = meta.plan.parameters
    s.aif_needed = params.get("aif_mode") == "capture" and not rep.has_aif
    can_resume = isinstance(params.get("engine_plan"), dict)
    if s.incomplete:
        todo = []
        if s.missing_steps:
            todo.append(f"{len(s.missing_steps)} missing steps")
        if s.aif_needed:
            todo.append("the all-in-focus shot")
        if can_resume:
            s.resumable = True
            s.resume_note = "resume will acquire " + " and ".join(todo)
        else:
            s.resume_note = (
                "cannot be resumed: no stored acquisition plan (not written by psfbench acquire)"
            )
    s.fit = _fit_result(root)
    if with_thumbnail:
        s.thumbnail = _thumbnail_for(root, [r.frame for r in session.records], rep.has_aif)
    s.report = {
        **session.summary(rep),
        "path": str(root),
        "created": meta.provenance.created.isoformat(),
        "profile": meta.provenance.profile,
        "notes": meta.notes,
    }


REPORT_KEYS = (
    "frames",
    "planned_steps",
    "missing_steps",
    "shape",
    "dtype",
    "bit_depth",
    "camera",
    "pixel_size_mm",
    "focal_length_mm",
    "f_number",
    "output_scale",
    "d_range_mm",
    "focus_depth_range_mm",
    "d_implied",
    "has_depth",
    "has_aif",
    "duplicate_indices",
    "results",
    "created",
    "profile",
    "notes",
)


def format_report(summary: SessionSummary) -> str:
    """The validation report as ``psfbench session info`` prints it, plus resume and fit."""
    r = summary.report
    lines = [f"{summary.path}: {'VALID' if summary.valid else 'INVALID'}"]
    for key in REPORT_KEYS:
        if key in r and r[key] not in (None, ""):
            lines.append(f"  {key:22s} {r[key]}")
    if summary.fit:
        f = summary.fit
        lines.append(f"  {'fit (' + f['name'] + ')':22s} A = {f['A']:.2f}, e = {f['e']:.4f} mm")
    for p in summary.problems:
        lines.append(f"  problem: {p}")
    for w in summary.warnings:
        lines.append(f"  warning: {w}")
    if summary.resume_note:
        lines.append(f"  {summary.resume_note}")
    if summary.valid and not summary.problems and not summary.warnings:
        lines.append("  no problems, no warnings")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the panel


class _Proxy(QSortFilterProxyModel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)


class ReportDialog(QDialog):
    """The full validation report of one session, selectable and copyable."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Validation report")
        self.setModal(False)
        self.resize(720, 420)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text()))
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.view)
        lay.addWidget(buttons)

    def set_text(self, title: str, text: str) -> None:
        self.setWindowTitle(title)
        self.view.setPlainText(text)

    def text(self) -> str:
        return self.view.toPlainText()


class SessionsPanel(QWidget):
    """The session browser (see the module docstring)."""

    name = PANEL
    title = "Sessions"

    #: path of a session to resume (the main window connects it to the sweep panel)
    resumeRequested = Signal(str)
    #: path of a session to fit (the fitting panel)
    fitRequested = Signal(str)
    #: path of the session now shown in the viewer
    sessionOpened = Signal(str)

    def __init__(self, model: Any, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        self._tasks = BackgroundTasks(2, name="session-scan", parent=self)
        self._gen = 0
        self._futures: list[Any] = []
        self._rows: dict[str, QStandardItem] = {}  # path -> its name item (column 0)
        self.summaries: dict[str, SessionSummary] = {}
        self._extra: set[str] = set()  # sessions opened by path outside the listing
        self._select_after_scan: str | None = None
        self._listing = False
        self._closed = False
        self.viewer: SessionView | None = None
        self.report_dialog: ReportDialog | None = None
        self.folder = ""
        state = self._panel_state()

        # folder row
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText(DEFAULT_DIR)
        self.folder_edit.setToolTip("Folder holding the session folders (Enter to scan)")
        self.folder_edit.editingFinished.connect(self._folder_edited)
        self.browse_button = action_button("Browse…", tooltip="Choose the sessions folder")
        self.browse_button.clicked.connect(self.choose_folder)
        self.refresh_button = action_button("Refresh", tooltip="Scan the folder again")
        self.refresh_button.clicked.connect(self.refresh)
        frow = QHBoxLayout()
        frow.addWidget(QLabel("Folder:"))
        frow.addWidget(self.folder_edit, 1)
        frow.addWidget(self.browse_button)
        frow.addWidget(self.refresh_button)

        # table
        self.table_model = QStandardItemModel(0, len(COLUMNS), self)
        self.table_model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = _Proxy(self)
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(THUMB_SIZE)
        self.table.setSortingEnabled(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB_SIZE.height() + 6)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        for col, width in (
            (COL_NAME, 170),
            (COL_FRAMES, 50),
            (COL_STATUS, 200),
            (COL_DATE, 120),
            (COL_EXTRAS, 90),
        ):
            self.table.setColumnWidth(col, width)
        self.table.sortByColumn(
            state["sort_column"],
            Qt.SortOrder.DescendingOrder if state["sort_desc"] else Qt.SortOrder.AscendingOrder,
        )
        hh.sortIndicatorChanged.connect(self._sort_changed)
        self.table.doubleClicked.connect(lambda _i: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_selection())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        # details + actions
        self.details = QTextBrowser()
        self.details.setOpenLinks(False)
        self.details.setMinimumHeight(50)
        self.open_button = action_button(
            "Open", tooltip="View the frames, depth map and all-in-focus image (double-click)"
        )
        self.validate_button = action_button(
            "Validate", tooltip="Check the session again and show the full report"
        )
        self.resume_button = action_button(
            "Resume", tooltip="Acquire the missing steps in the sweep panel"
        )
        self.fit_button = action_button("Fit…", tooltip="Fit A and e to this session")
        self.reveal_button = action_button(
            "Reveal", tooltip="Show the session folder in the file manager"
        )
        self.open_button.clicked.connect(self.open_selected)
        self.validate_button.clicked.connect(self.validate_selected)
        self.resume_button.clicked.connect(self.resume_selected)
        self.fit_button.clicked.connect(self.fit_selected)
        self.reveal_button.clicked.connect(self.reveal_selected)
        brow = QHBoxLayout()
        for b in (
            self.open_button,
            self.validate_button,
            self.resume_button,
            self.fit_button,
            self.reveal_button,
        ):
            # as narrow as the text allows: five buttons fit a ~400 px dock
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance(b.text()) + 14)
            brow.addWidget(b)
        self.status_label = QLabel(" ")
        self.status_label.setWordWrap(True)

        bottom = QWidget()
        blay = QVBoxLayout(bottom)
        blay.setContentsMargins(0, 0, 0, 0)
        blay.addLayout(brow)
        blay.addWidget(self.details, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(bottom)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([420, 160])

        lay = QVBoxLayout(self)
        lay.addLayout(frow)
        lay.addWidget(self.status_label)
        lay.addWidget(self.splitter, 1)

        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(500)
        self._refresh_timer.timeout.connect(self.refresh)
        if model is not None and hasattr(model, "acquisitionEvent"):
            model.acquisitionEvent.connect(self._on_acquisition_event)

        self._update_selection()
        initial = getattr(settings, "sessions_dir", "") or DEFAULT_DIR
        self.set_folder(initial)

    # ------------------------------------------------------------------ settings

    def _panel_state(self) -> dict[str, Any]:
        """This panel's saved state, validated (bad values replaced by defaults)."""
        raw = {}
        panels = getattr(self.settings, "panels", None)
        if isinstance(panels, dict) and isinstance(panels.get(PANEL), dict):
            raw = panels[PANEL]
        col = raw.get("sort_column")
        desc = raw.get("sort_desc")
        return {
            "sort_column": col if isinstance(col, int) and 0 <= col < len(COLUMNS) else COL_DATE,
            "sort_desc": desc if isinstance(desc, bool) else True,
        }

    def _save_panel_state(self, **kv: Any) -> None:
        if self.settings is None:
            return
        panels = dict(self.settings.panels)
        state = dict(panels.get(PANEL) or {})
        state.update(kv)
        panels[PANEL] = state
        self.settings.panels = panels

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        self._save_panel_state(
            sort_column=int(column), sort_desc=order == Qt.SortOrder.DescendingOrder
        )

    # ------------------------------------------------------------------ public slots

    def set_folder(self, path: str | os.PathLike[str]) -> None:
        """Show the sessions in ``path`` (remembered in the settings) and scan it."""
        folder = str(Path(os.fspath(path)).expanduser().absolute())
        self.folder = folder
        self.folder_edit.setText(folder)
        if self.settings is not None and self.settings.sessions_dir != folder:
            self.settings.sessions_dir = folder
        self.refresh()

    def refresh(self) -> None:
        """Scan the folder again (rows keep their place; changed sessions update)."""
        if self._closed:
            return
        self._gen += 1
        gen = self._gen
        for f in self._futures:
            f.cancel()
        self._futures = []
        self._listing = True
        self._update_status()
        self._futures.append(
            self._tasks.submit(
                list_session_dirs,
                self.folder,
                on_done=lambda paths: self._listed(gen, paths),
                on_error=lambda exc: self._listed(gen, [], exc),
            )
        )

    def open_session(self, path: str | os.PathLike[str]) -> None:
        """Select and open the session in ``path`` (``psfbench-gui --session DIR``); its parent
        folder becomes the browsed folder if it is not already. A folder of sessions (no
        session.json of its own, but sessions inside) is browsed instead."""
        p = Path(os.fspath(path)).expanduser().absolute()
        own = (p / "session.json").exists() or (p / "sweep.jsonl").exists()
        if not own and p.is_dir() and list_session_dirs(str(p)):
            self.set_folder(p)
            return
        key = str(p)
        parent = str(p.parent)
        self._select_after_scan = key
        if _same_path(parent, self.folder):
            if key in self._rows:
                self._select(key)
            else:
                self._extra.add(key)
                self.refresh()
        else:
            self._extra.add(key)
            self.set_folder(parent)
        self._show_viewer(key)

    def validate_selected(self) -> None:
        """Check the selected session again (off the GUI thread) and show the full report."""
        path = self.selected_path()
        if path is None:
            return
        dlg = self._report_dialog()
        dlg.set_text(f"Validation report — {Path(path).name}", f"{path}: checking…")
        dlg.show()
        dlg.raise_()

        def done(s: SessionSummary) -> None:
            self._apply_summary(s)
            if self.report_dialog is not None:
                self.report_dialog.set_text(
                    f"Validation report — {s.name}: {'valid' if s.valid else 'INVALID'}",
                    format_report(s),
                )

        self._tasks.submit(summarize_session, path, on_done=done)

    def resume_selected(self) -> None:
        """Ask for the selected session to be resumed (``resumeRequested(path)``)."""
        s = self.selected_summary()
        if s is None or not s.resumable:
            return
        self.resumeRequested.emit(s.path)

    def fit_selected(self) -> None:
        s = self.selected_summary()
        if s is None or not self._fit_ok(s)[0]:
            return
        self.fitRequested.emit(s.path)

    def open_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self._show_viewer(path)

    def reveal_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def choose_folder(self) -> None:
        start = self.folder if Path(self.folder).is_dir() else str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Sessions folder", start)
        if chosen:
            self.set_folder(chosen)

    # ------------------------------------------------------------------ queries

    def selected_path(self) -> str | None:
        rows = self.table.selectionModel().selectedRows(COL_NAME)
        if not rows:
            return None
        return self.proxy.data(rows[0], PATH_ROLE)

    def selected_summary(self) -> SessionSummary | None:
        path = self.selected_path()
        return self.summaries.get(path) if path else None

    def row_paths(self) -> list[str]:
        """Session paths in display order."""
        return [
            self.proxy.data(self.proxy.index(r, COL_NAME), PATH_ROLE)
            for r in range(self.proxy.rowCount())
        ]

    def cell_text(self, path: str, column: int) -> str:
        item = self._rows[path]
        return self.table_model.item(item.row(), column).text()

    def cell_tooltip(self, path: str, column: int) -> str:
        item = self._rows[path]
        return self.table_model.item(item.row(), column).toolTip()

    @property
    def scanning(self) -> bool:
        return self._listing or any(not f.done() for f in self._futures) or self._tasks.busy

    # ------------------------------------------------------------------ scanning

    def _listed(self, gen: int, paths: list[str], exc: BaseException | None = None) -> None:
        if gen != self._gen:
            return
        self._listing = False
        if exc is not None:
            self.status_label.setText(f"Cannot list {self.folder}: {exc}")
        wanted = {str(Path(p)) for p in paths}
        wanted |= {p for p in self._extra if _same_path(str(Path(p).parent), self.folder)}
        for path in list(self._rows):
            if path not in wanted:
                self._remove_row(path)
        for path in sorted(wanted):
            if path not in self._rows:
                self._add_placeholder(path)
            self._futures.append(
                self._tasks.submit(
                    summarize_session,
                    path,
                    on_done=lambda s, g=gen: self._summarized(g, s),
                )
            )
        if self._select_after_scan in self._rows:
            self._select(self._select_after_scan)
            self._select_after_scan = None
        elif self.selected_path() is None and self.proxy.rowCount():
            self.table.selectRow(0)
        self._update_status()

    def _summarized(self, gen: int, s: SessionSummary) -> None:
        if gen != self._gen:
            return
        self._apply_summary(s)
        self._update_status()

    def _add_placeholder(self, path: str) -> None:
        items = [QStandardItem() for _ in COLUMNS]
        for it in items:
            it.setEditable(False)
        items[COL_NAME].setText(Path(path).name)
        items[COL_NAME].setData(path, PATH_ROLE)
        items[COL_NAME].setData(Path(path).name.lower(), SORT_ROLE)
        items[COL_NAME].setToolTip(path)
        items[COL_STATUS].setText("reading…")
        items[COL_DATE].setData(0.0, SORT_ROLE)
        self.table_model.appendRow(items)
        self._rows[path] = items[COL_NAME]

    def _remove_row(self, path: str) -> None:
        item = self._rows.pop(path)
        self.table_model.removeRow(item.row())
        self.summaries.pop(path, None)

    def _apply_summary(self, s: SessionSummary) -> None:
        if s.path not in self._rows:
            if not _same_path(str(Path(s.path).parent), self.folder):
                return
            self._add_placeholder(s.path)
        self.summaries[s.path] = s
        row = self._rows[s.path].row()
        m = self.table_model

        def put(col: int, text: str, key: Any, tip: str = "") -> QStandardItem:
            it = m.item(row, col)
            it.setText(text)
            it.setData(key, SORT_ROLE)
            it.setToolTip(tip or text)
            return it

        name = m.item(row, COL_NAME)
        name.setToolTip(s.path)
        if s.thumbnail is not None:
            name.setData(_pixmap(s.thumbnail), Qt.ItemDataRole.DecorationRole)
        date = s.created.astimezone().strftime("%Y-%m-%d %H:%M") if s.created else "?"
        dt = put(
            COL_DATE,
            date,
            s.created.timestamp() if s.created else 0.0,
            (s.created.astimezone().isoformat(timespec="seconds") if s.created else "")
            + (" (folder date: session.json unreadable)" if s.created_from_mtime else ""),
        )
        font = dt.font()
        font.setItalic(s.created_from_mtime)
        dt.setFont(font)
        planned = "?" if s.planned is None and not s.meta_ok else str(s.planned or s.frames)
        put(
            COL_FRAMES,
            f"{s.frames}/{planned}",
            s.frames,
            f"{s.frames} frames saved of {planned} planned"
            + (f"; missing steps: {_short_list(s.missing_steps)}" if s.missing_steps else ""),
        )
        st = put(COL_STATUS, s.status_text(), s.status_rank(), s.details_text())
        st.setForeground(QBrush((RED, AMBER, GREEN)[s.status_rank()]))
        extras = " · ".join(n for n, ok in (("depth", s.has_depth), ("AIF", s.has_aif)) if ok)
        put(
            COL_EXTRAS,
            extras or "—",
            int(s.has_depth) * 2 + int(s.has_aif),
            f"depth map: {'yes' if s.has_depth else 'no'}; all-in-focus image: "
            + ("yes" if s.has_aif else ("missing (resume captures it)" if s.aif_needed else "no")),
        )
        if s.fit:
            f = s.fit
            fit_text = f"A {f['A']:.1f} · e {f['e']:.3f} mm"
            tip = f"results/{f['name']}.json: A = {f['A']:.3f}" + (
                f" ± {f['A_std']:.3f}" if "A_std" in f else ""
            )
            tip += f", e = {f['e']:.4f}" + (f" ± {f['e_std']:.4f}" if "e_std" in f else "")
            tip += " mm (the paper's Gaussian)"
            if f.get("model"):
                tip += f"; PSF model {f['model']}"
            put(COL_FIT, fit_text, f["A"], tip)
        else:
            put(COL_FIT, "—", -1.0, "no fit result in results/")
        if s.path == self.selected_path():
            self._update_selection()

    def _update_status(self) -> None:
        n = len(self._rows)
        done = len([p for p in self._rows if p in self.summaries])
        folder = self.folder
        if self._listing:
            text = f"Scanning {folder}…"
        elif n == 0:
            exists = Path(folder).is_dir()
            text = (
                f"No sessions in {folder}."
                if exists
                else f"{folder} does not exist yet (sweeps saved there will appear here)."
            )
        else:
            bad = sum(1 for p in self._rows if p in self.summaries and not self.summaries[p].valid)
            text = f"{n} session{'s' if n != 1 else ''}"
            if done < n:
                text += f", reading {n - done}…"
            if bad:
                text += f", {bad} invalid"
        self.status_label.setText(text)

    # ------------------------------------------------------------------ selection

    def _select(self, path: str) -> None:
        item = self._rows.get(path)
        if item is None:
            return
        idx = self.proxy.mapFromSource(item.index())
        self.table.selectRow(idx.row())
        self.table.scrollTo(idx)

    def _fit_ok(self, s: SessionSummary) -> tuple[bool, str]:
        if not s.valid:
            return False, "This session has problems: Validate shows them"
        if not s.frames:
            return False, "This session has no frames yet"
        if not s.has_depth:
            return False, "A fit needs the depth map (depth.tif), which this session lacks"
        return True, "Fit A and e to this session"

    def _update_selection(self) -> None:
        path = self.selected_path()
        s = self.summaries.get(path) if path else None
        has = path is not None
        for b in (self.open_button, self.validate_button, self.reveal_button):
            b.setEnabled(has)
        self.resume_button.setEnabled(bool(s and s.resumable))
        if s is None:
            self.resume_button.setToolTip("Acquire the missing steps in the sweep panel")
        elif s.resumable:
            self.resume_button.setToolTip(s.resume_note.capitalize() + " (sweep panel)")
        else:
            self.resume_button.setToolTip(s.resume_note or "Nothing to resume: the sweep is done")
        ok, why = self._fit_ok(s) if s else (False, "Select a session")
        self.fit_button.setEnabled(ok)
        self.fit_button.setToolTip(why)
        self.details.setHtml(self._details_html(path, s))

    def _details_html(self, path: str | None, s: SessionSummary | None) -> str:
        if path is None:
            return "<i>Select a session.</i>"
        if s is None:
            return f"<b>{_html(Path(path).name)}</b><br>{_html(path)}<br><i>reading…</i>"
        r = s.report
        lines = [f"<b>{_html(s.name)}</b> — {_html(s.path)}"]
        facts = []
        if r.get("shape"):
            shp = r["shape"]
            facts.append(f"{shp[1]}×{shp[0]} px" + (f" ×{shp[2]}" if len(shp) == 3 else ""))
        if r.get("focal_length_mm"):
            facts.append(f"F = {r['focal_length_mm']:g} mm")
        if r.get("d_range_mm"):
            lo, hi = r["d_range_mm"]
            facts.append(f"d {lo:.2f}–{hi:.2f} mm")
        if r.get("focus_depth_range_mm"):
            lo, hi = r["focus_depth_range_mm"]
            facts.append(f"Df {lo:.0f}–{hi:.0f} mm")
        if s.fit:
            facts.append(f"fit A = {s.fit['A']:.2f}, e = {s.fit['e']:.4f} mm")
            if s.fit.get("model"):
                facts.append(f"PSF model {s.fit['model']}")
        if facts:
            lines.append(" · ".join(facts))
        for p in s.problems:
            lines.append(f"<span style='color:{RED.name()}'>problem: {_html(p)}</span>")
        for w in s.warnings:
            lines.append(f"<span style='color:{AMBER.name()}'>warning: {_html(w)}</span>")
        if s.resume_note:
            lines.append(_html(s.resume_note))
        return "<br>".join(lines)

    def _context_menu(self, pos: QPoint) -> None:
        idx = self.table.indexAt(pos)
        if not idx.isValid():
            return
        self.table.selectRow(idx.row())
        menu = QMenu(self)
        for text, slot, button in (
            ("Open", self.open_selected, self.open_button),
            ("Validate", self.validate_selected, self.validate_button),
            ("Resume", self.resume_selected, self.resume_button),
            ("Fit…", self.fit_selected, self.fit_button),
            ("Reveal folder", self.reveal_selected, self.reveal_button),
        ):
            act = QAction(text, menu)
            act.setEnabled(button.isEnabled())
            act.triggered.connect(slot)
            menu.addAction(act)
        copy = QAction("Copy path", menu)
        copy.triggered.connect(
            lambda: QGuiApplication.clipboard().setText(self.selected_path() or "")
        )
        menu.addAction(copy)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ viewer, dialogs

    def _show_viewer(self, path: str) -> None:
        if self.viewer is None:
            self.viewer = SessionView(self.settings, self)
            self.viewer.setWindowFlag(Qt.WindowType.Window, True)
            self.viewer.resize(900, 680)
        self.viewer.load(path)
        self.viewer.show()
        self.viewer.raise_()
        self._remember_recent(path)
        self.sessionOpened.emit(path)

    def _remember_recent(self, path: str) -> None:
        if self.settings is None:
            return
        recent = [path] + [p for p in self.settings.recent_sessions if p != path]
        self.settings.recent_sessions = recent[:10]

    def _report_dialog(self) -> ReportDialog:
        if self.report_dialog is None:
            self.report_dialog = ReportDialog(self)
        return self.report_dialog

    # ------------------------------------------------------------------ events

    def _folder_edited(self) -> None:
        text = self.folder_edit.text().strip()
        if text and not _same_path(text, self.folder):
            self.set_folder(text)

    def _on_acquisition_event(self, event: Any) -> None:
        if getattr(event, "kind", "") in ("started", "finished"):
            self._refresh_timer.start()  # debounced: the new session appears / completes

    def shutdown(self) -> None:
        """Stop the scan workers and close the viewer (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._refresh_timer.stop()
        self._tasks.shutdown()
        if self.viewer is not None:
            self.viewer.shutdown()
            self.viewer.close()
        if self.report_dialog is not None:
            self.report_dialog.close()


def _same_path(a: str, b: str) -> bool:
    try:
        return Path(a).expanduser().absolute() == Path(b).expanduser().absolute()
    except (OSError, ValueError):
        return a == b


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pixmap(thumb: np.ndarray) -> QPixmap:
    """A QPixmap from a small uint8 (h, w) or (h, w, 3) array (GUI thread)."""
    arr = np.ascontiguousarray(thumb)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
    else:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    pix = QPixmap.fromImage(img.copy())  # copy: the QImage must not outlive the array
    return pix.scaled(
        THUMB_SIZE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


__all__ = ["SessionsPanel", "SessionSummary", "summarize_session", "list_session_dirs"]
