"""Regression test for the PySide6 6.12.0 crash on Python 3.11.

6.12.0 drops one reference to ``True`` per ``Signal.emit()`` and the interpreter aborts with
"Fatal Python error: bool_dealloc" after ~570 emits. The soak runs in a child process so that
an abort shows up as a failing test with the child's stderr, not as a dead test session.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SOAK = textwrap.dedent(
    """
    import os, sys, threading
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal

    N = int(sys.argv[1])

    class Emitter(QObject):
        tick = Signal(int)

    class Sink(QObject):
        def __init__(self):
            super().__init__()
            self.count = 0
            self.total = 0
        def on_tick(self, i):
            self.count += 1
            self.total += i
            if self.count == N:
                QCoreApplication.quit()

    app = QCoreApplication(sys.argv)
    sink = Sink()
    emitter = Emitter()
    emitter.tick.connect(sink.on_tick, Qt.ConnectionType.QueuedConnection)

    def work():
        for i in range(N):
            emitter.tick.emit(i)

    worker = threading.Thread(target=work)
    QTimer.singleShot(0, worker.start)
    QTimer.singleShot(120_000, app.quit)  # safety net
    app.exec()
    worker.join()
    print(sink.count, sink.total)
    """
)


def test_twenty_thousand_cross_thread_emits_survive() -> None:
    n = 20_000
    proc = subprocess.run(
        [sys.executable, "-c", SOAK, str(n)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"Qt soak aborted (rc={proc.returncode}):\n{proc.stderr[-2000:]}"
    count, total = map(int, proc.stdout.split())
    assert count == n
    assert total == n * (n - 1) // 2


def test_installed_pyside6_is_not_the_crashing_release() -> None:
    import PySide6

    assert PySide6.__version__ != "6.12.0", "PySide6 6.12.0 aborts Python 3.11 (see constraints)"
