"""Input hygiene for instrument panels (gui-anchors B7, B8, C11).

* Spin boxes and combo boxes ignore the mouse wheel unless they have keyboard focus, so
  scrolling a panel never changes a device value (pymmcore-widgets #372, ScopeFoundry #69).
* Spin boxes do not track the keyboard: ``editingFinished`` / ``valueCommitted`` fires once
  when the user is done (Enter or focus out), so a device receives one command, not one per
  keystroke.
* Action buttons (Run, Abort, Start, Save ...) take no focus, so Enter in a form never
  triggers them by accident.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QPushButton,
    QSpinBox,
    QWidget,
)


class _WheelGuard(QObject):
    """Event filter: wheel events reach the widget only while it has focus."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True  # swallowed here; the parent scroll area scrolls instead
        return False


_GUARD = _WheelGuard()


def guard_wheel(widget: QWidget) -> QWidget:
    """Make ``widget`` ignore the wheel unless focused (StrongFocus: click or Tab to focus)."""
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_GUARD)
    return widget


class SpinBox(QSpinBox):
    """Integer spin box: wheel only when focused, one ``valueCommitted`` per edit."""

    valueCommitted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        guard_wheel(self)
        self.setKeyboardTracking(False)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self._last = self.value()
        self.editingFinished.connect(self._commit)

    def _commit(self) -> None:
        if self.value() != self._last:
            self._last = self.value()
            self.valueCommitted.emit(self._last)

    def setValueSilently(self, value: int) -> None:  # noqa: N802 (Qt naming)
        """Show a value read from the device without emitting ``valueCommitted``."""
        self.blockSignals(True)
        self.setValue(value)
        self._last = self.value()
        self.blockSignals(False)


class DoubleSpinBox(QDoubleSpinBox):
    """Float spin box: wheel only when focused, one ``valueCommitted`` per edit."""

    valueCommitted = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        guard_wheel(self)
        self.setKeyboardTracking(False)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self._last = self.value()
        self.editingFinished.connect(self._commit)

    def _commit(self) -> None:
        if self.value() != self._last:
            self._last = self.value()
            self.valueCommitted.emit(self._last)

    def setValueSilently(self, value: float) -> None:  # noqa: N802 (Qt naming)
        self.blockSignals(True)
        self.setValue(value)
        self._last = self.value()
        self.blockSignals(False)


class ComboBox(QComboBox):
    """Combo box that ignores the wheel unless focused."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        guard_wheel(self)


def action_button(text: str, parent: QWidget | None = None, *, tooltip: str = "") -> QPushButton:
    """A button that never takes focus, so Enter cannot press it by accident."""
    b = QPushButton(text, parent)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    b.setAutoDefault(False)
    b.setDefault(False)
    if tooltip:
        b.setToolTip(tooltip)
    return b
