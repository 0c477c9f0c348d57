from __future__ import annotations

import json

import numpy as np
import pytest

from psfbench.core.dataset import DatasetError, Session, SessionWriter

from .helpers import image, make_meta, write_session


def _raises(fn, file: str, field: str) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        fn()
    err = info.value
    assert file in err.file, str(err)
    assert field in err.field, str(err)
    assert file in str(err) and field in str(err)
    return err


def test_missing_session_json(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    (root / "session.json").unlink()
    _raises(lambda: Session.open(root), "session.json", "(file)")


def test_missing_frame_file(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    (root / "frames" / "frame_0001.tif").unlink()
    _raises(lambda: Session.open(root), "frames/frame_0001.tif", "frame")
    rep = Session.open(root, strict=False).validate()
    assert not rep.valid and any("frame_0001" in p for p in rep.problems)


def test_missing_sweep_table(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    (root / "sweep.jsonl").unlink()
    _raises(lambda: Session.open(root), "sweep.jsonl", "(file)")


def test_unknown_schema_version(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    meta = json.loads((root / "session.json").read_text())
    meta["schema"] = "psfbench.session/99"
    (root / "session.json").write_text(json.dumps(meta))
    err = _raises(lambda: Session.open(root), "session.json", "schema")
    assert "psfbench.session/99" in str(err)


def test_invalid_meta_field_names_its_path(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    meta = json.loads((root / "session.json").read_text())
    meta["plan"]["steps"][2]["index"] = -3
    (root / "session.json").write_text(json.dumps(meta))
    _raises(lambda: Session.open(root), "session.json", "plan.steps[2].index")
    meta["plan"]["steps"][2]["index"] = 2
    meta["lens"]["focal_length_mm"] = "fifty"
    (root / "session.json").write_text(json.dumps(meta))
    _raises(lambda: Session.open(root), "session.json", "lens.focal_length_mm")


def test_invalid_json(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    (root / "session.json").write_text("{not json")
    _raises(lambda: Session.open(root), "session.json", "(json)")


def test_invalid_record_field(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    with open(root / "sweep.jsonl", "a") as fh:
        fh.write(json.dumps({"index": 7, "frame": "frames/frame_0007.tif", "d_mm": "far"}) + "\n")
    _raises(lambda: Session.open(root), "sweep.jsonl", "line 4.d_mm")
    with pytest.raises(DatasetError):
        SessionWriter.create(tmp_path / "t", make_meta()).write_frame(
            0, image((4, 4), "uint16", 0), {"exposure_us": -1, "d_mm": 30.0}
        )


def test_record_without_distance_is_refused_before_writing(tmp_path) -> None:
    w = SessionWriter.create(tmp_path / "s", make_meta())
    _raises(lambda: w.write_frame(0, image((4, 4), "uint16", 0), {}), "sweep.jsonl", "index 0")
    assert not (tmp_path / "s" / "frames" / "frame_0000.tif").exists()


def test_mismatched_shapes(tmp_path) -> None:
    w = SessionWriter.create(tmp_path / "s", make_meta())
    w.write_frame(0, image((8, 8), "uint16", 0), {"d_mm": 30.0})
    _raises(
        lambda: w.write_frame(1, image((8, 9), "uint16", 0), {"d_mm": 31.0}),
        "frames/frame_0001.tif",
        "shape",
    )
    _raises(lambda: w.write_depth(np.ones((9, 8)) * 900), "depth.tif", "shape")
    _raises(lambda: w.write_aif(image((8, 8, 3), "uint16", 0)), "aif.tif", "shape")
    w.close()
    # a depth map replaced on disk by one of another size is caught on open
    root = write_session(tmp_path / "t")
    import tifffile

    tifffile.imwrite(root / "depth.tif", np.ones((5, 5), np.float32))
    _raises(lambda: Session.open(root), "depth.tif", "shape")


def test_nan_only_depth(tmp_path) -> None:
    w = SessionWriter.create(tmp_path / "s", make_meta())
    _raises(lambda: w.write_depth(np.full((4, 4), np.nan)), "depth.tif", "depth")
    root = write_session(tmp_path / "t")
    import tifffile

    tifffile.imwrite(root / "depth.tif", np.full((12, 16), np.nan, np.float32))
    _raises(lambda: Session.open(root), "depth.tif", "depth")
    s = Session.open(root, strict=False)
    _raises(s.depth, "depth.tif", "depth")


def test_d_that_puts_focus_inside_F(tmp_path) -> None:
    root = write_session(tmp_path / "s")  # d = 30, 31, 32 mm, F = 50 mm
    s = Session.open(root)
    err = _raises(lambda: s.check_focus_depths(19.5), "sweep.jsonl", "index 0: d_mm")
    assert "F = 50" in str(err)
    s.check_focus_depths(20.5)  # v = 50.5 > F
    # a nominal e in the metadata makes this part of validation
    with SessionWriter.open_existing(root) as w:
        w.update_meta(lens={"focal_length_mm": 50.0, "nominal_e_mm": 10.0})
    _raises(lambda: Session.open(root), "sweep.jsonl", "d_mm")


def test_given_focus_depth_inside_F(tmp_path) -> None:
    with SessionWriter.create(tmp_path / "s", make_meta()) as w:
        w.write_frame(0, image((4, 4), "uint16", 0), {"focus_depth_mm": 40.0})
    _raises(lambda: Session.open(tmp_path / "s"), "sweep.jsonl", "focus_depth_mm")


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_truncated_tiff(tmp_path, keep) -> None:
    root = write_session(tmp_path / "s")
    path = root / "frames" / "frame_0002.tif"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _raises(lambda: Session.open(root), "frames/frame_0002.tif", "frame")


def test_corrupt_tiff(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    (root / "aif.tif").write_bytes(b"this is not a tiff at all")
    _raises(lambda: Session.open(root), "aif.tif", "aif")


def test_bit_depth_violation(tmp_path) -> None:
    w = SessionWriter.create(tmp_path / "s", make_meta())  # 12-bit
    img = np.full((4, 4), 5000, np.uint16)
    _raises(lambda: w.write_frame(0, img, {"d_mm": 30.0}), "frame_0000.tif", "camera.bit_depth")


def test_create_refuses_existing_session_and_second_writer(tmp_path) -> None:
    root = write_session(tmp_path / "s")
    _raises(lambda: SessionWriter.create(root, make_meta()), "s", "(folder)")
    with SessionWriter.open_existing(root):
        _raises(lambda: SessionWriter.open_existing(root), "sweep.jsonl", "(lock)")
    SessionWriter.open_existing(root).close()  # lock released on close


def test_bad_dtype_and_shape(tmp_path) -> None:
    w = SessionWriter.create(tmp_path / "s", make_meta())
    for bad in (np.zeros((4, 4), np.int32), np.zeros((4, 4, 2), np.uint8)):
        _raises(lambda bad=bad: w.write_frame(0, bad, {"d_mm": 1.0}), "frame_0000.tif", "frame")


def test_not_a_folder_and_bad_results(tmp_path) -> None:
    _raises(lambda: Session.open(tmp_path / "nope"), "nope", "(folder)")
    _raises(lambda: SessionWriter.open_existing(tmp_path / "nope"), "nope", "(folder)")
    with SessionWriter.create(tmp_path / "s", make_meta()) as w:
        _raises(lambda: w.write_results("../x", {}), "results", "name")
        _raises(lambda: w.write_results("fit", {"A": float("nan")}), "results/fit.json", "data")
        bad = {"o": np.array([{"a": 1}], dtype=object)}
        _raises(lambda: w.write_results("fit", {}, bad), "results/fit/o.npy", "arrays.o")
        _raises(lambda: w.update_meta(colour="red"), "session.json", "colour")
        _raises(lambda: w.update_meta(output_scale=-1), "session.json", "output_scale")
    s = Session.open(tmp_path / "s")
    _raises(lambda: s.result("fit"), "results/fit.json", "(file)")
    _raises(lambda: s.frame(5), "sweep.jsonl", "index")
