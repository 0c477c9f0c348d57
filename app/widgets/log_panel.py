"""The log panel: core's ``logging`` records, with levels, in the GUI.

A :class:`QueueLogHandler` on the root logger only appends records to a bounded deque (any
thread, a few microseconds, never a Qt call); the panel drains it on a timer in the GUI thread.
So a flood of log records from a worker can neither block the worker nor freeze the GUI, and
nothing crosses threads as a Qt signal.
"""

from __future__ import annotations

import collections
import logging
import threading

from PySide6.QtCore import QTimer
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from psfbench.app.widgets.inputs import ComboBox, action_button

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_COLOURS = {"WARNING": "#b36b00", "ERROR": "#c62828", "CRITICAL": "#c62828"}


class QueueLogHandler(logging.Handler):
    """Keeps the newest ``capacity`` formatted records; thread-safe."""

    def __init__(self, capacity: int = 5000) -> None:
        super().__init__(logging.DEBUG)
        self.records: collections.deque[tuple[int, str]] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = record.getMessage()
        with self._lock:
            self.records.append((record.levelno, text))

    def take(self) -> list[tuple[int, str]]:
        with self._lock:
            out = list(self.records)
            self.records.clear()
        return out


class LogPanel(QWidget):
    """Shows log records at or above the chosen level; keeps the last ``max_lines``."""

    name = "log"
    title = "Log"

    def __init__(self, parent: QWidget | None = None, max_lines: int = 5000) -> None:
        super().__init__(parent)
        self.handler = QueueLogHandler()
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        self.view = QPlainTextEdit(self)
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(max_lines)
        self.view.setObjectName("logView")
        self.level = ComboBox(self)
        self.level.addItems(_LEVELS)
        self.level.setCurrentText("INFO")
        clear = action_button("Clear", self, tooltip="Clear the shown log lines")
        clear.clicked.connect(self.view.clear)
        top = QHBoxLayout()
        top.addWidget(QLabel("Level"))
        top.addWidget(self.level)
        top.addStretch(1)
        top.addWidget(clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.view)
        self.lines_shown = 0
        self._timer = QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    def drain(self) -> int:
        records = self.handler.take()
        if not records:
            return 0
        threshold = logging.getLevelName(self.level.currentText())
        cursor = self.view.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        n = 0
        for levelno, text in records[-2000:]:  # a flood shows its newest part
            if levelno < threshold:
                continue
            fmt = QTextCharFormat()
            colour = _COLOURS.get(logging.getLevelName(levelno))
            if colour:
                fmt.setForeground(QColor(colour))
            if self.view.document().characterCount() > 1:
                cursor.insertBlock()
            cursor.insertText(text, fmt)
            n += 1
        self.view.setTextCursor(cursor)
        self.view.ensureCursorVisible()
        self.lines_shown += n
        return n

    def shutdown(self) -> None:
        self._timer.stop()
        logging.getLogger().removeHandler(self.handler)
