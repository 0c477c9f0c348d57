"""Fuzz test of the session reader, the image reader and the CSV importer (hypothesis).

Hostile inputs: truncated, corrupted and oversized files, wrong dtypes and shapes, hostile JSON
(deep nesting, huge numbers, NaN and Infinity, wrong types at any field), symbolic links out of
the session folder. Every case must end in a result or a clear error naming the file (and
field): DatasetError / ImageFileError, never another exception type, a hang or a silent wrong
value; a failed read or import changes nothing already on disk. Bounded: a fixed number of
examples per test (well under 60 s here); the last test prints how many cases ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psfbench.core.dataset import (
    DatasetError,
    Session,
    SessionMeta,
    SessionWriter,
    import_image_folder,
)
from psfbench.core.dataset.schema import Camera, Lens, PlannedStep, SweepPlan
from psfbench.core.imageio import ImageFileError, read_frames

RAN: Counter[str] = Counter()
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases on every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
pytestmark = [
    pytest.mark.timeout(120),
    # tifffile warns about its future defaults for some of the odd shapes written here
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


# ----------------------------------------------------------------------------- helpers
@contextmanager
def _scratch() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="psfbench-fuzz-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and link under ``root`` with a hash of its bytes (links: their target)."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def _make_session(root: Path) -> None:
    meta = SessionMeta(
        camera=Camera(pixel_size_mm=0.00345, bit_depth=12),
        lens=Lens(focal_length_mm=50.0, f_number=2.0),
        plan=SweepPlan(steps=[PlannedStep(index=i) for i in range(3)]),
    )
    rng = np.random.default_rng(0)
    with SessionWriter.create(root, meta) as w:
        for i in range(3):
            frame = rng.integers(0, 4096, (8, 10), dtype=np.uint16)
            w.write_frame(i, frame, {"d_mm": 30.0 + i, "motor_steps": 100 * i})
        w.write_depth(np.full((8, 10), 900.0, np.float32))
        w.write_aif(rng.integers(0, 4096, (8, 10), dtype=np.uint16))
        w.write_results("fit", {"A": 800.0}, arrays={"landscape": np.ones((3, 3))})


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "session"
    _make_session(root)
    return root


def _read_everything(root: Path) -> None:
    """What a user of a session does; only DatasetError may come out, and what comes back
    must be what the session says it is."""
    try:
        s = Session.open(root, strict=True)
    except DatasetError:
        report = Session.open(root, strict=False).validate() if _meta_ok(root) else None
        assert report is None or not report.valid
        return
    meta = s.meta.to_json()
    for value in _leaves(meta):
        assert not (isinstance(value, float) and not np.isfinite(value)), meta
    assert s.focal_length_mm > 0 and s.meta.camera.pixel_size_mm > 0
    try:
        frames = s.frames_array()
        assert frames.dtype == np.float32 and frames.shape[0] == len(s.indices)
        assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1
        if s.has_depth:
            depth = s.depth()
            assert depth.shape == frames.shape[2:]
        if s.has_aif:
            assert s.aif().shape == frames.shape[1:]
        for name in s.result_names():
            s.result(name)
        s.summary()
    except DatasetError:
        pass


def _meta_ok(root: Path) -> bool:
    try:
        from psfbench.core.dataset.session import load_meta

        load_meta(root)
        return True
    except DatasetError:
        return False


def _leaves(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def _check_session(template: Path, mutate: Any) -> None:
    with _scratch() as d:
        root = d / "session"
        shutil.copytree(template, root, symlinks=True)
        outside = d / "outside.tif"
        tifffile.imwrite(outside, np.zeros((8, 10), np.uint16))
        mutate(root, outside)
        before = _snapshot(d)
        _read_everything(root)
        assert _snapshot(d) == before  # reading changed nothing on disk


# ----------------------------------------------------------------------------- JSON
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
HOSTILE_TEXT = st.sampled_from(
    [
        "[" * 100000 + "]" * 100000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        "1" * 5000,
        '{"schema": "psfbench.session/1", "lens": {"focal_length_mm": 1e999}}',
        '{"schema": "psfbench.session/1", "lens": {"focal_length_mm": NaN}}',
        '{"schema": "psfbench.session/1", "lens": {"focal_length_mm": Infinity}}',
        "",
        "\x00\x01\x02",
        "\ufeff{}",
        '"just a string"',
        "null",
    ]
)
META_FIELDS = [
    ("camera", "pixel_size_mm"),
    ("camera", "bit_depth"),
    ("camera", "width"),
    ("lens", "focal_length_mm"),
    ("lens", "f_number"),
    ("lens", "nominal_e_mm"),
    ("output_scale",),
    ("plan", "steps"),
    ("plan",),
    ("calibration",),
    ("provenance", "created"),
    ("schema",),
    ("notes",),
]
RECORD_FIELDS = ["index", "frame", "d_mm", "focus_depth_mm", "motor_steps", "timestamp",
                 "exposure_us", "frames_averaged", "device_state"]  # fmt: skip
NUMBER_TEXT = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "1" * 5000, "-0", "true"])


@FUZZ
@given(field=st.sampled_from(META_FIELDS), value=JSON)
def test_session_json_wrong_types_at_any_field(template, field, value) -> None:
    def mutate(root: Path, _: Path) -> None:
        doc = json.loads((root / "session.json").read_text())
        node = doc
        for key in field[:-1]:
            node = node[key]
        node[field[-1]] = value
        (root / "session.json").write_text(json.dumps(doc))

    _check_session(template, mutate)
    RAN["session.json wrong types"] += 1


@FUZZ
@given(text=HOSTILE_TEXT | st.text(max_size=200), number=NUMBER_TEXT, where=st.booleans())
def test_hostile_json_text(template, text, number, where) -> None:
    def mutate(root: Path, _: Path) -> None:
        if where:
            (root / "session.json").write_text(text, encoding="utf-8")
        else:
            meta = (root / "session.json").read_text()
            (root / "session.json").write_text(meta.replace("50.0", number, 1))

    _check_session(template, mutate)
    RAN["session.json hostile text"] += 1


@FUZZ
@given(
    line=st.integers(0, 2),
    field=st.sampled_from(RECORD_FIELDS),
    value=JSON,
    raw=st.one_of(st.none(), HOSTILE_TEXT, NUMBER_TEXT),
)
def test_sweep_log_hostile_records(template, line, field, value, raw) -> None:
    def mutate(root: Path, _: Path) -> None:
        lines = (root / "sweep.jsonl").read_text().splitlines()
        if raw is None:
            rec = json.loads(lines[line])
            rec[field] = value
            lines[line] = json.dumps(rec)
        else:
            lines[line] = lines[line].replace("30.0", raw, 1) if raw in NUMBER_CHOICES else raw
        (root / "sweep.jsonl").write_text("\n".join(lines) + "\n")

    _check_session(template, mutate)
    RAN["sweep.jsonl hostile records"] += 1


NUMBER_CHOICES = {"NaN", "Infinity", "-Infinity", "1e999", "1" * 5000, "-0", "true"}


@FUZZ
@given(value=JSON | HOSTILE_TEXT, key=st.sampled_from(["arrays", "data", "schema"]))
def test_result_json_hostile(template, value, key) -> None:
    def mutate(root: Path, outside: Path) -> None:
        doc = json.loads((root / "results" / "fit.json").read_text())
        doc[key] = value
        if key == "arrays" and value == {}:
            doc[key] = {"x": str(outside)}  # an absolute path out of the session
        (root / "results" / "fit.json").write_text(json.dumps(doc))

    _check_session(template, mutate)
    RAN["results json"] += 1


# ----------------------------------------------------------------------------- files
FILES = ["frames/frame_0000.tif", "frames/frame_0002.tif", "depth.tif", "aif.tif",
         "results/fit/landscape.npy"]  # fmt: skip


@FUZZ
@given(
    name=st.sampled_from(FILES),
    how=st.sampled_from(["truncate", "flip", "garbage", "empty", "grow"]),
    at=st.floats(0.0, 1.0),
    garbage=st.binary(min_size=0, max_size=64),
)
def test_corrupted_session_files(template, name, how, at, garbage) -> None:
    def mutate(root: Path, _: Path) -> None:
        p = root / name
        data = bytearray(p.read_bytes())
        k = int(at * (len(data) - 1))
        if how == "truncate":
            data = data[:k]
        elif how == "flip":
            for j, b in enumerate(garbage or b"\xff"):
                data[(k + j) % len(data)] ^= b or 0xFF
        elif how == "garbage":
            data = bytearray(garbage)
        elif how == "empty":
            data = bytearray()
        else:
            data += garbage * 100
        p.write_bytes(bytes(data))

    _check_session(template, mutate)
    RAN["corrupted session files"] += 1


@FUZZ
@given(
    name=st.sampled_from(FILES + ["frames", "session.json", "sweep.jsonl", "results"]),
    target=st.sampled_from(["outside", "loop", "missing", "root"]),
)
def test_symlinks_out_of_the_session_are_refused(template, name, target) -> None:
    def mutate(root: Path, outside: Path) -> None:
        p = root / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
        dest = {
            "outside": outside if "." in name else outside.parent,
            "loop": p,
            "missing": outside.parent / "nothing_here",
            "root": Path("/"),
        }[target]
        p.symlink_to(dest)

    _check_session(template, mutate)
    if target == "outside" and name.startswith("frames/"):
        with _scratch() as d:  # an escaping frame is named, not read
            root = d / "s"
            shutil.copytree(template, root)
            (root / name).unlink()
            (root / name).symlink_to(template / "aif.tif")
            with pytest.raises(DatasetError, match=rf"{name}: frame: leads outside"):
                Session.open(root)
    RAN["symlinks"] += 1


# ----------------------------------------------------------------------------- images
def _encoded(kind: str) -> bytes:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    if kind.startswith("tif"):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "x.tif"
            if kind == "tif-lzw":
                tifffile.imwrite(p, img.astype(np.uint16) * 16, compression="lzw")
            elif kind == "tif-float":
                tifffile.imwrite(p, img[..., 0].astype(np.float32) / 255)
            else:
                tifffile.imwrite(p, np.stack([img[..., 0]] * 3), photometric="minisblack")
            return p.read_bytes()
    ok, buf = cv2.imencode("." + kind, img)
    assert ok
    return buf.tobytes()


ENCODED = {k: _encoded(k) for k in ("png", "jpg", "bmp", "tif-lzw", "tif-float", "tif-pages")}
SUFFIX = {"png": ".png", "jpg": ".jpg", "bmp": ".bmp"}


def _check_image(path: Path) -> None:
    before = _snapshot(path.parent)
    try:
        frames = read_frames(path)
    except ImageFileError as exc:
        assert str(exc).startswith(str(path)), exc  # names the file
    else:
        assert frames.dtype in (np.uint8, np.uint16, np.float32)
        assert frames.ndim in (3, 4) and (frames.ndim == 3 or frames.shape[3] == 3)
        assert min(frames.shape[1:3]) >= 1
    assert _snapshot(path.parent) == before


@FUZZ
@given(
    kind=st.sampled_from(sorted(ENCODED)),
    how=st.sampled_from(["truncate", "flip", "insert"]),
    at=st.floats(0.0, 1.0),
    junk=st.binary(min_size=1, max_size=32),
)
def test_corrupted_images(kind, how, at, junk) -> None:
    data = bytearray(ENCODED[kind])
    k = int(at * (len(data) - 1))
    if how == "truncate":
        data = data[:k]
    elif how == "flip":
        for j, b in enumerate(junk):
            data[(k + j) % len(data)] ^= b or 0xFF
    else:
        data[k:k] = junk
    with _scratch() as d:
        p = d / f"img{SUFFIX.get(kind, '.tif')}"
        p.write_bytes(bytes(data))
        _check_image(p)
    RAN["corrupted images"] += 1


DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "float16",
          "float32", "float64", "complex64"]  # fmt: skip


@FUZZ
@given(
    dtype=st.sampled_from(DTYPES),
    shape=st.sampled_from(
        [
            (1, 1),
            (5, 7),
            (5, 7, 1),
            (5, 7, 2),
            (5, 7, 3),
            (5, 7, 4),
            (5, 7, 5),
            (3, 5, 7),
            (2, 3, 5, 7),
            (1, 200),
        ]
    ),  # fmt: skip
    special=st.sampled_from([None, "nan", "inf", "huge", "negative"]),
)
def test_wrong_dtypes_and_shapes(dtype, shape, special) -> None:
    arr = np.zeros(shape, dtype=dtype)
    if arr.dtype.kind in "fc" and special in ("nan", "inf"):
        arr.flat[0] = np.nan if special == "nan" else np.inf
    elif special == "huge" and arr.dtype.kind in "iuf":
        arr.flat[0] = np.finfo(arr.dtype).max if arr.dtype.kind == "f" else np.iinfo(arr.dtype).max
    elif special == "negative" and arr.dtype.kind in "if":
        arr.flat[0] = -5
    with _scratch() as d:
        p = d / "x.tif"
        try:
            tifffile.imwrite(p, arr)
        except Exception:  # tifffile cannot write this at all: nothing to read
            RAN["wrong dtypes/shapes"] += 1
            return
        _check_image(p)
    RAN["wrong dtypes/shapes"] += 1


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@FUZZ
@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1), tiff=st.booleans())
def test_oversized_headers_are_refused_before_decoding(width, height, tiff) -> None:
    with _scratch() as d:
        if tiff:
            p = d / "big.tif"
            tifffile.imwrite(p, np.zeros((4, 4), np.uint8))
            with tifffile.TiffFile(p, mode="r+b") as tf:
                tf.pages[0].tags["ImageWidth"].overwrite(width)
                tf.pages[0].tags["ImageLength"].overwrite(height)
        else:
            p = d / "big.png"
            p.write_bytes(_png_claiming(width, height))
        if width * height > 1 << 28:
            with pytest.raises(ImageFileError, match=r"big\.(tif|png): "):
                read_frames(p)
        else:
            _check_image(p)
    RAN["oversized headers"] += 1


# ----------------------------------------------------------------------------- CSV import
@FUZZ
@given(
    text=st.text(
        alphabet=st.sampled_from(list('file,d_mm;\t"\n\r 0123.5-eE,xnaNIn\x00é')), max_size=120
    ),  # fmt: skip
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_csv_import_of_anything(text, encoding) -> None:
    with _scratch() as d:
        src = d / "src"
        src.mkdir()
        for i in range(2):
            cv2.imwrite(str(src / f"{i}.png"), np.full((4, 5), i, np.uint8))
        csv = src / "d.csv"
        csv.write_bytes(("file,d_mm\n" if "file" not in text else "").encode(encoding)
                        + text.encode(encoding, errors="replace"))  # fmt: skip
        before = _snapshot(d)
        try:
            s = import_image_folder(csv, d / "out", focal_length_mm=50, pixel_size_mm=0.005)
        except DatasetError as exc:
            assert str(csv) in str(exc) or "(folder)" in str(exc) or ".png" in str(exc)
            assert _snapshot(d) == before  # nothing left, nothing changed
        else:
            assert np.isfinite(s.d_mm[np.isfinite(s.d_mm)]).all()
            assert len(s.indices) >= 1
    RAN["csv import"] += 1


def test_zz_report_the_number_of_cases(capsys) -> None:
    total = sum(RAN.values())
    with capsys.disabled():
        print(f"\nfuzz: {total} cases ran ({', '.join(f'{k} {v}' for k, v in RAN.items())})")
    assert total > 0 or not RAN
