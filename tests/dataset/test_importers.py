from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from psfbench.core.dataset import DatasetError, import_allin3d, import_image_folder

H, W = 10, 12


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _save_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


# ---------------------------------------------------------------- (a) folder + CSV
def _csv_folder(tmp_path: Path, n: int = 3) -> tuple[Path, list[np.ndarray]]:
    src = tmp_path / "src"
    src.mkdir()
    imgs = [np.random.default_rng(i).integers(0, 4096, (H, W)).astype(np.uint16) for i in range(n)]
    lines = ["file,d_mm,motor_steps"]
    for i, img in enumerate(imgs):
        assert cv2.imwrite(str(src / f"shot{i}.png"), img)
        lines.append(f"shot{i}.png,{30 + i * 0.5},{i * 200}")
    (src / "distances.csv").write_text("\n".join(lines) + "\n")
    depth = np.full((H, W), 900.0)
    depth[0, 0] = 0.0  # a hole
    np.save(src / "depth.npy", depth)
    assert cv2.imwrite(str(src / "aif.png"), imgs[0])
    return src, imgs


def test_import_image_folder(tmp_path) -> None:
    src, imgs = _csv_folder(tmp_path)
    s = import_image_folder(
        src / "distances.csv",
        tmp_path / "out",
        focal_length_mm=50,
        pixel_size_mm=0.00345,
        f_number=1.4,
        depth=src / "depth.npy",
        aif=src / "aif.png",
        bit_depth=12,
    )
    assert s.validate().valid and s.indices == [0, 1, 2]
    np.testing.assert_array_equal(s.frame(2), imgs[2])
    np.testing.assert_array_equal(s.d_mm, [30.0, 30.5, 31.0])
    assert s.record(1).motor_steps == 200
    assert np.isnan(s.depth()[0, 0]) and s.depth()[1, 1] == 900.0
    assert s.meta.camera.bit_depth == 12 and s.missing_steps() == []


def test_import_image_folder_errors_name_file_and_field(tmp_path) -> None:
    src, _ = _csv_folder(tmp_path)
    csv = src / "distances.csv"
    kw = {"focal_length_mm": 50, "pixel_size_mm": 0.00345}
    good = csv.read_text()
    csv.write_text(good.replace("30.5", "thirty"))
    with pytest.raises(DatasetError, match=r"distances.csv: line 3: d_mm"):
        import_image_folder(csv, tmp_path / "o1", **kw)
    assert not (tmp_path / "o1").exists()  # nothing half-built left behind
    csv.write_text(good.replace("shot2.png", "gone.png"))
    with pytest.raises(DatasetError, match=r"gone.png: image: file is missing"):
        import_image_folder(csv, tmp_path / "o2", **kw)
    assert not (tmp_path / "o2").exists()
    csv.write_text("name,distance\nshot0.png,30\n")
    with pytest.raises(DatasetError, match=r"distances.csv: header"):
        import_image_folder(csv, tmp_path / "o3", **kw)
    csv.write_text(good)
    np.save(src / "small.npy", np.ones((3, 3)) * 900)
    with pytest.raises(DatasetError, match=r"small.npy: shape"):
        import_image_folder(csv, tmp_path / "o4", depth=src / "small.npy", **kw)
    np.save(src / "zero.npy", np.zeros((H, W)))
    with pytest.raises(DatasetError, match=r"zero.npy: depth: no valid pixel"):
        import_image_folder(csv, tmp_path / "o5", depth=src / "zero.npy", **kw)
    np.save(src / "obj.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(DatasetError, match=r"obj.npy: depth: cannot load"):
        import_image_folder(csv, tmp_path / "o6", depth=src / "obj.npy", **kw)


# ---------------------------------------------------------------- (b) All-in-3D
def _allin3d(tmp_path: Path, factor: int | None = 4, n: int = 4, flat: bool = False) -> Path:
    root = tmp_path / "allin3d"
    sfx = f"_{factor}" if factor else ""
    focus = root / f"focus{sfx}" if flat else root / f"focus{sfx}" / "000"
    v = np.linspace(28.6, 29.6, n)  # sensor readings, mm
    fd = 1 / (1 / 50 - 1 / (v + 23.6))  # their formula: mm
    # numbered out of lexical order on purpose (9 < 10), plus a 'simu' render to skip
    names = [f"foc_{k:d}.png" for k in (9, 10, 11, 12)[:n]]
    for k, name in enumerate(names):
        _save_rgb(focus / name, _rgb(k))
    _save_rgb(focus / "simu_003.png", _rgb(50))
    np.save(focus / "fd.npy", fd)
    depth = np.full((H, W), 1000.0)
    depth[:2] = 0.0  # masked
    (root / f"depth{sfx}").mkdir(parents=True)
    np.save(root / f"depth{sfx}" / "depth000.npy", depth)
    _save_rgb(root / f"AIF{sfx}" / "image000.png", _rgb(99))
    return root


@pytest.mark.parametrize(("factor", "flat"), [(4, False), (None, True)])
def test_import_allin3d(tmp_path, factor, flat) -> None:
    root = _allin3d(tmp_path, factor=factor, flat=flat)
    s = import_allin3d(root, tmp_path / "out", factor=factor)
    rep = s.validate()
    assert rep.valid and rep.frames == 4 and rep.missing_steps == [] and rep.shape == [H, W, 3]
    np.testing.assert_array_equal(s.frame(0), _rgb(0))  # RGB order kept, foc_9 first
    np.testing.assert_array_equal(s.frame(3), _rgb(3))
    v = np.linspace(28.6, 29.6, 4)
    np.testing.assert_allclose(s.d_mm, v, rtol=1e-9)  # implied d = their sensor reading
    np.testing.assert_allclose(s.focus_depth_mm, 1 / (1 / 50 - 1 / (v + 23.6)))
    np.testing.assert_allclose(s.check_focus_depths(0.0), s.focus_depth_mm)  # Df wins
    assert s.meta.implied_d is not None and s.meta.implied_d.e_mm == 23.6
    assert s.meta.output_scale == float(factor or 1)
    depth = s.depth()
    assert np.isnan(depth[:2]).all() and np.nanmin(depth) == 1000.0
    np.testing.assert_array_equal(s.aif(as_float=False, channels_first=False), _rgb(99))
    assert s.frames_array().shape == (4, 3, H, W)


def test_import_allin3d_errors(tmp_path) -> None:
    root = _allin3d(tmp_path)
    fd_path = root / "focus_4" / "000" / "fd.npy"
    fd = np.load(fd_path)
    np.save(fd_path, fd[:3])
    with pytest.raises(DatasetError, match=r"fd.npy: length: 3 focus depths for 4 frames"):
        import_allin3d(root, tmp_path / "o1", factor=4)
    np.save(fd_path, fd / 1000)  # metres
    with pytest.raises(DatasetError, match=r"fd.npy: fd: .*fd_scale=1000"):
        import_allin3d(root, tmp_path / "o2", factor=4)
    assert import_allin3d(root, tmp_path / "o3", factor=4, fd_scale=1000).validate().valid
    np.save(fd_path, fd)
    np.save(root / "depth_4" / "depth000.npy", np.full((H, W), 1.0))  # metres
    with pytest.raises(DatasetError, match=r"depth000.npy: depth: .*depth_scale=1000"):
        import_allin3d(root, tmp_path / "o4", factor=4)
    np.save(root / "depth_4" / "depth000.npy", np.full((H + 1, W), 900.0))
    with pytest.raises(DatasetError, match=r"depth000.npy: shape"):
        import_allin3d(root, tmp_path / "o5", factor=4)
    (root / "depth_4" / "depth000.npy").unlink()
    with pytest.raises(DatasetError, match=r"depth000.npy: \(file\): depth map is missing"):
        import_allin3d(root, tmp_path / "o6", factor=4)
    with pytest.raises(DatasetError, match=r"focus_2: \(folder\)"):
        import_allin3d(root, tmp_path / "o7", factor=2)
    for k in range(1, 8):
        assert not (tmp_path / f"o{k}").exists() or k == 3
