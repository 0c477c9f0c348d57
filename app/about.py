"""The About box: versions and compute devices (what ``psfbench info`` prints), copyable for
bug reports."""

from __future__ import annotations

import platform

from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)


def version_info() -> dict[str, str]:
    import numpy
    import pyqtgraph
    import PySide6
    import torch
    from PySide6.QtCore import qVersion

    from psfbench.core import __version__

    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "psfbench": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "CUDA devices": ", ".join(cuda) if cuda else "none (CPU only)",
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pyqtgraph.__version__,
    }


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, extra: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About psfbench")
        info = version_info()
        info.update(extra or {})
        self.text = "\n".join(f"{k:14s} {v}" for k, v in info.items())
        head = QLabel(
            "<b>psfbench</b>: measure and fit the defocus point-spread function of a camera "
            "and lens (Gaussian PSF model, optical parameter A and offset e)."
        )
        head.setWordWrap(True)
        box = QPlainTextEdit(self.text, self)
        box.setReadOnly(True)
        box.setMinimumSize(520, 200)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QApplication.clipboard().setText(self.text))
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(box)
        lay.addWidget(buttons)
