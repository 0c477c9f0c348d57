"""psfbench.core.imageio, the one image reader: formats, variants, orientation, pages, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from psfbench.core import imageio
from psfbench.core.cli import main
from psfbench.core.imageio import ImageFileError, read_frames, read_image

RNG = np.random.default_rng(7)
GREY = RNG.integers(0, 256, (12, 20), dtype=np.uint8)
RGB = RNG.integers(0, 256, (12, 20, 3), dtype=np.uint8)


def _save_rgb(path: Path, rgb: np.ndarray, **kw: object) -> None:
    ok, buf = cv2.imencode(path.suffix.lower() if path.suffix.lower() != ".jpe" else ".jpg",
                           np.ascontiguousarray(rgb[..., ::-1]), **kw)  # fmt: skip
    assert ok
    path.write_bytes(buf.tobytes())


@pytest.mark.parametrize("ext", [".png", ".PNG", ".bmp", ".BMP", ".tif", ".TIF", ".tiff", ".Tiff"])
def test_extension_variants_in_any_case_read_the_same_pixels(tmp_path, ext) -> None:
    p = tmp_path / f"img{ext}"
    if ext.lower().startswith(".tif"):
        tifffile.imwrite(p, RGB, photometric="rgb")
    else:
        _save_rgb(p, RGB)
    np.testing.assert_array_equal(read_image(p), RGB)
    assert imageio.is_image_file(p)


@pytest.mark.parametrize("ext", [".jpg", ".JPG", ".jpeg", ".JPEG", ".jpe"])
def test_jpeg_extension_variants(tmp_path, ext) -> None:
    smooth = np.zeros((16, 24, 3), np.uint8)
    smooth[..., 0] = 200  # red
    smooth[..., 2] = np.linspace(0, 90, 24, dtype=np.uint8)[None]
    p = tmp_path / f"img{ext}"
    _save_rgb(p, smooth, params=[cv2.IMWRITE_JPEG_QUALITY, 100])
    img = read_image(p)
    assert img.shape == smooth.shape and img.dtype == np.uint8
    assert np.abs(img.astype(int) - smooth).mean() < 3  # lossy, but RGB (not BGR)


def test_stack_takes_mixed_extension_variants(tmp_path, capsys) -> None:
    from psfbench.core.stacking.synthetic import make_plane_stack

    st = make_plane_stack(48, 64, channels=3, planes=2, A=300.0, seed=3)
    names = ["a_0.PNG", "a_1.png"]
    for name, f in zip(names, st.frames, strict=True):
        _save_rgb(tmp_path / name, np.round(f.transpose(1, 2, 0) * 255).astype(np.uint8))
    rc = main(["stack", str(tmp_path), "--out", str(tmp_path / "out" / "o.TIF"), "--no-align"])
    assert rc == 2  # the output folder does not exist: a clear error, not a traceback
    (tmp_path / "out").mkdir()
    rc = main(["stack", str(tmp_path), "--out", str(tmp_path / "out" / "o.TIF"), "--no-align"])
    assert rc == 0, capsys.readouterr().err
    assert read_image(tmp_path / "out" / "o.TIF").shape == (48, 64, 3)


def _with_orientation(path: Path, img: np.ndarray, orientation: int) -> None:
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=100)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_viewers_show_it(tmp_path, orientation) -> None:
    p = tmp_path / "o.png"
    _with_orientation(p, RGB, orientation)
    shown = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]  # applies EXIF
    np.testing.assert_array_equal(read_image(p), shown)
    with Image.open(p) as im:
        from PIL import ImageOps

        np.testing.assert_array_equal(read_image(p), np.asarray(ImageOps.exif_transpose(im)))


def test_exif_orientation_keeps_a_set_consistent(tmp_path, capsys) -> None:
    """A camera that rotates some frames in the pixels and tags others: as displayed, all
    frames are upright and of one size, so they stack."""
    from psfbench.core.stacking.synthetic import make_plane_stack

    st = make_plane_stack(40, 56, channels=1, planes=2, A=300.0, seed=4)
    upright = [np.round(f[0] * 255).astype(np.uint8) for f in st.frames]  # (40, 56)
    # frame 0: stored upright; frame 1: stored turned 90 deg counter-clockwise + tag 6
    Image.fromarray(upright[0]).save(tmp_path / "f_0.jpg", quality=100)
    _with_orientation(tmp_path / "f_1.jpg", np.ascontiguousarray(np.rot90(upright[1])), 6)
    assert read_image(tmp_path / "f_1.jpg").shape == (40, 56)
    assert np.abs(read_image(tmp_path / "f_1.jpg").astype(int) - upright[1]).mean() < 3
    out = tmp_path / "o.png"
    assert main(["stack", str(tmp_path / "f_0.jpg"), str(tmp_path / "f_1.jpg"), "--out",
                 str(out), "--no-align"]) == 0, capsys.readouterr().err  # fmt: skip
    assert read_image(out).shape == (40, 56)


@pytest.mark.parametrize("compression", [None, "lzw", "zlib", "zstd", "packbits"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_compressed_tiff_reads_everywhere(tmp_path, compression, dtype) -> None:
    data = (RNG.random((12, 20)) * (4095 if dtype != np.uint8 else 255)).astype(dtype)
    p = tmp_path / "c.tif"
    tifffile.imwrite(p, data, compression=compression)
    np.testing.assert_array_equal(read_image(p), data)
    # the session reader (tiff_io) decodes the same file the same way
    from psfbench.core.dataset.tiff_io import read_tiff

    np.testing.assert_array_equal(read_tiff(p, "frame"), data)


def test_bit_depths_and_types(tmp_path) -> None:
    twelve = RNG.integers(0, 4096, (8, 9), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "t.png"), twelve)
    assert read_image(tmp_path / "t.png").max() == twelve.max()  # 12-bit values stay counts
    rgb16 = RNG.integers(0, 65536, (8, 9, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])
    np.testing.assert_array_equal(read_image(tmp_path / "c16.png"), rgb16)
    tifffile.imwrite(tmp_path / "i32.tif", twelve.astype(np.int32))
    got = read_image(tmp_path / "i32.tif")
    assert got.dtype == np.uint16 and np.array_equal(got, twelve)
    tifffile.imwrite(tmp_path / "big.tif", np.full((4, 4), 70000, np.int32))
    with pytest.raises(ImageFileError, match=r"big\.tif: dtype: int32 samples span \[70000"):
        read_image(tmp_path / "big.tif")
    tifffile.imwrite(tmp_path / "f64.tif", np.full((4, 4), 0.5))
    assert read_image(tmp_path / "f64.tif").dtype == np.float32
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), RGB)  # alpha dropped


def test_pages_and_hyperstacks(tmp_path) -> None:
    z = RNG.integers(0, 256, (4, 10, 12), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tw:
        for page in z:
            tw.write(page, photometric="minisblack")  # four separate series
    np.testing.assert_array_equal(read_frames(tmp_path / "pages.tif"), z)
    tifffile.imwrite(tmp_path / "shaped.tif", z, photometric="minisblack")  # one series
    np.testing.assert_array_equal(read_frames(tmp_path / "shaped.tif"), z)
    zc = RNG.integers(0, 256, (4, 3, 10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "zcyx.tif", zc, imagej=True, metadata={"axes": "ZCYX"})
    np.testing.assert_array_equal(read_frames(tmp_path / "zcyx.tif"), zc.transpose(0, 2, 3, 1))
    tz = RNG.integers(0, 256, (2, 3, 10, 12), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "tz.tif", tz, imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(ImageFileError, match=r"tz\.tif: axes: hyperstack .* more than one"):
        read_frames(tmp_path / "tz.tif")
    with pytest.raises(ImageFileError, match=r"pages\.tif: pages: holds 4 frames"):
        read_image(tmp_path / "pages.tif")
    with tifffile.TiffWriter(tmp_path / "mixed.tif") as tw:
        tw.write(z[0])
        tw.write(z[0, :5])
    with pytest.raises(ImageFileError, match=r"mixed\.tif: pages: pages differ in size"):
        read_frames(tmp_path / "mixed.tif")


def test_natural_order(tmp_path) -> None:
    for i in (0, 1, 2, 10, 11, 20):
        cv2.imwrite(str(tmp_path / f"pattern_{i}.png"), GREY)
    (tmp_path / "notes.txt").write_text("x")
    names = [p.name for p in imageio.list_images(tmp_path)]
    assert names == [f"pattern_{i}.png" for i in (0, 1, 2, 10, 11, 20)]
    assert imageio.natural_sorted(["b10", "B2", "a"]) == [Path("a"), Path("B2"), Path("b10")]


def test_stack_takes_a_text_ordered_list_in_numeric_order(tmp_path, capsys) -> None:
    from psfbench.core.stacking.synthetic import make_plane_stack

    st = make_plane_stack(32, 40, channels=1, planes=2, A=300.0, seed=5)
    frames = [np.round(st.frames[i % 2, 0] * 255).astype(np.uint8) for i in range(11)]
    paths = []
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f_{i}.png"), f)
        paths.append(str(tmp_path / f"f_{i}.png"))
    glob_order = sorted(paths)  # f_0, f_1, f_10, f_2, ...
    depth = tmp_path / "i.tif"
    rc = main(["stack", *glob_order, "--out", str(tmp_path / "o.png"), "--no-align",
               "--depth", str(depth), "--reference", "0"])  # fmt: skip
    assert rc == 0
    assert "numeric order" in capsys.readouterr().err


def test_float_full_scale_by_real_range() -> None:
    assert imageio.float_full_scale(0.0, 1.0, "f") == 1.0
    assert imageio.float_full_scale(-0.01, 0.99, "f") == 1.0
    assert imageio.float_full_scale(12.0, 250.0, "f") == 255.0
    assert imageio.float_full_scale(409.5, 3685.5, "f") == 4095.0
    assert imageio.float_full_scale(0.0, 60000.0, "f") == 65535.0
    for lo, hi in ((-30.0, 2.0), (0.0, 1e6), (-400.0, 4000.0)):
        with pytest.raises(ImageFileError, match=r"^f: range: float samples span"):
            imageio.float_full_scale(lo, hi, "f")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("gone.png", None, r"gone\.png: image: file is missing"),
        ("empty.png", b"", r"empty\.png: image: file is empty"),
        ("noise.png", b"\x89PNG\r\n\x1a\n" + bytes(range(200)), r"noise\.png: image: "),
        ("noise.tif", b"II*\x00" + bytes(range(200)), r"noise\.tif: image: "),
        ("text.jpg", b"hello, not a jpeg", r"text\.jpg: image: not a readable image"),
        ("a.gif", b"GIF89a", r"a\.gif: image: unsupported extension '\.gif'"),
    ],
)
def test_errors_name_the_file_and_what_is_wrong(tmp_path, name, content, match) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageFileError, match=match):
        read_image(tmp_path / name)


def test_truncated_files_are_refused(tmp_path) -> None:
    cv2.imwrite(str(tmp_path / "t.png"), RGB)
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFileError, match=r"t\.png: image: "):
        read_image(tmp_path / "t.png")
    tifffile.imwrite(tmp_path / "t.tif", RNG.random((64, 64)).astype(np.float32))
    data = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFileError, match=r"t\.tif: image: corrupt, truncated"):
        read_image(tmp_path / "t.tif")
