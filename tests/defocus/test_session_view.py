"""The session browser's viewer shows a frame's defocus map (results/defocus/<frame>.tif)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import Qt

from psfbench.core.cli import main
from psfbench.core.dataset import Session
from psfbench.core.defocus.infer import session_map_path, write_float_tiff


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("defocus_view") / "s"
    argv = ["acquire", "sweep", "--profile", "virtual", "--virtual", "width=96",
            "--virtual", "height=64", "--virtual", "time_scale=0.01", "--out", str(out),
            "--quiet", "--settle", "0", "--steps", "3", "--aif", "skip"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_defocus_map_is_shown_beside_its_frame(qtbot, session: Path) -> None:  # type: ignore[no-untyped-def]
    from psfbench.app.widgets.session_view import SessionView

    s = Session.open(session)
    middle = s.records[1]
    sigma = np.linspace(0.0, 7.5, 64 * 96, dtype=np.float32).reshape(64, 96)
    target = session_map_path(session, middle.frame)
    assert target == session / "results" / "defocus" / (Path(middle.frame).stem + ".tif")
    write_float_tiff(target, sigma, {"psf": {"name": "disc"}})

    view = SessionView()
    qtbot.addWidget(view)
    view.load(session)
    qtbot.waitUntil(
        lambda: view.pending_loads == 0 and view.current_record is not None, timeout=10_000
    )
    qtbot.waitUntil(lambda: view.defocus_shown == target, timeout=5_000)
    assert view.current_record.index == middle.index  # opens on the middle frame
    assert np.array_equal(view.defocus_item.image, tifffile.imread(target))
    assert view.defocus_bar.getAxis("left").labelText == "sigma (px)"
    assert view.defocus_bar.levels() == pytest.approx((0.0, 7.5))
    assert "trained on the disc PSF" in view.defocus_tab.caption.text()
    assert view.defocus_tab.message.isHidden() and not view.defocus_tab.graphics.isHidden()
    # the next frame has no map: the tab says how to make one
    qtbot.mouseClick(view.next_button, Qt.MouseButton.LeftButton)
    other = session_map_path(session, s.records[2].frame)
    qtbot.waitUntil(lambda: view.defocus_shown == other, timeout=5_000)
    assert "psfbench defocus map" in view.defocus_tab.message.text()
    assert not view.defocus_tab.message.isHidden()
    view.shutdown()
