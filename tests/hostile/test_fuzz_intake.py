"""Intake against hostile folders: every file is accepted or rejected, nothing ever raises."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tasks.core.datasets import load_split
from tasks.core.intake import read_manifest, run_intake
from tasks.core.registry import MNIST
from tests.hostile.test_fuzz_images import _dds_header_only, _good_png, _png_header_only

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1,
                max_size=12).filter(lambda name: name not in (".", ".."))
# Formats Pillow (13) registers a writer for but cannot write from L, RGB, RGBA, 1 or P here:
# BUFR, GRIB and HDF5 save only through a handler the application installs, WMF only on Windows.
UNWRITABLE = {"BUFR", "GRIB", "HDF5", "WMF"}
MODES = ("L", "RGB", "RGBA", "1", "P")  # BLP writes only P; MSP, PALM and XBM only 1


def _digit(shift: int) -> Image.Image:
    """A dark vertical bar on white, ``shift`` pixels right of centre: a different file each."""
    pixels = np.full((40, 40), 255, np.uint8)
    pixels[8:32, 10 + shift % 20:15 + shift % 20] = 0
    return Image.fromarray(pixels)


def _every_format() -> tuple[dict[str, bytes], set[str]]:
    """One file of each format Pillow can save (the first of MODES it accepts), and the
    formats it could save in none of them."""
    Image.init()
    files, skipped = {}, set()
    for index, fmt in enumerate(sorted(Image.SAVE)):
        for mode in MODES:
            stream = io.BytesIO()
            try:
                _digit(index).convert(mode).save(stream, format=fmt)
            except Exception:  # this writer refuses this mode (or needs a plugin): try the next
                continue
            files[fmt] = stream.getvalue()
            break
        else:
            skipped.add(fmt)
    return files, skipped


FORMATS, SKIPPED = _every_format()


def _readable(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:  # EPS without Ghostscript; PDF and PALM, which Pillow only writes
        return False
    return True


def _damaged(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    damaged = bytearray(data)
    for position, value in flips:
        damaged[position % len(damaged)] = value
    return bytes(damaged[:max(0, len(damaged) - cut)])


CONTENT = st.one_of(st.binary(max_size=512), st.just(_good_png()),
                    st.builds(_png_header_only, st.integers(0, 100_000),
                              st.integers(0, 100_000)),
                    st.builds(_dds_header_only, st.integers(0, 2**32 - 1),
                              st.binary(min_size=4, max_size=4)),
                    st.builds(_damaged, st.sampled_from(sorted(FORMATS.values())),
                              st.integers(0, 4000),
                              st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                       max_size=6)))


def _check_outputs(result) -> None:
    assert all(item.reason for item in result.rejected)
    X, _ = load_split(Path(result.outputs["incoming"]))
    X_hold, _ = load_split(Path(result.outputs["holdout"]))
    assert len(X) + len(X_hold) == len(result.accepted)
    json.dumps(json.loads(Path(result.outputs["manifest"]).read_text()), ensure_ascii=False
               ).encode("utf-8")  # the manifest is UTF-8 through and through
    assert read_manifest(Path(result.outputs["manifest"])) == result


def test_every_format_pillow_saves_named_png_whole_cut_or_bare(tmp_path: Path) -> None:
    """Pillow picks a decoder by content: each of its formats, renamed ``.png``, whole, cut
    in half and cut to 128 bytes, plus a DDS header Pillow does not implement and random
    bytes. A file Pillow itself reads is a digit; every other one is a rejection."""
    assert SKIPPED <= UNWRITABLE, f"Pillow cannot write {SKIPPED - UNWRITABLE}: check why"
    assert len(FORMATS) >= 25
    root = tmp_path / "incoming"
    (root / "3").mkdir(parents=True)
    for fmt, data in FORMATS.items():
        (root / "3" / f"{fmt}.png").write_bytes(data)
        (root / "3" / f"{fmt}-half.png").write_bytes(data[:len(data) // 2])
        if len(data) > 128:  # a shorter file would be its own duplicate
            (root / "3" / f"{fmt}-128.png").write_bytes(data[:128])
    (root / "3" / "scan.png").write_bytes(_dds_header_only())
    rng = np.random.default_rng(0)
    for index in range(20):
        (root / "3" / f"random-{index}.png").write_bytes(rng.bytes(int(rng.integers(1, 3000))))
    result = run_intake(root, tmp_path / "out", MNIST.class_names)
    assert len(result.files) == len(list((root / "3").iterdir())) > 3 * 25
    _check_outputs(result)
    verdicts = {item.path: item for item in result.files}
    accepted = {fmt for fmt in FORMATS if verdicts[f"3/{fmt}.png"].accepted}
    assert accepted == {fmt for fmt, data in FORMATS.items() if _readable(data)}
    assert {"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "DDS"} <= accepted
    assert verdicts["3/scan.png"].reason.startswith("not a usable image")
    assert "NotImplementedError" in verdicts["3/scan.png"].reason


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(["3", "7", "eleven", "T-shirt_top", "."]),
                                NAMES, CONTENT), max_size=8))
def test_any_folder_gives_valid_outputs_and_a_verdict_per_file(tmp_path: Path, files) -> None:
    root = tmp_path / "incoming"
    shutil.rmtree(root, ignore_errors=True)
    written = set()
    for folder, name, content in files:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.add(path.relative_to(root).as_posix())
    result = run_intake(root, tmp_path / "out", MNIST.class_names)
    assert {item.path for item in result.files} == written
    _check_outputs(result)


BYTE_NAMES = st.binary(min_size=1, max_size=12).filter(
    lambda name: b"/" not in name and b"\0" not in name and name not in (b".", b".."))


@FUZZ
@given(names=st.lists(BYTE_NAMES, max_size=6, unique=True))
def test_any_file_name_bytes_get_a_printable_verdict(tmp_path: Path, names: list[bytes]) -> None:
    """Linux file names are bytes: those that are not UTF-8 are rejected by an escaped name,
    the others judged as usual; nothing raises, and logs and manifest stay UTF-8."""
    root = tmp_path / "incoming"
    shutil.rmtree(root, ignore_errors=True)
    (root / "3").mkdir(parents=True)
    for index, name in enumerate(names):
        stream = io.BytesIO()
        _digit(index).save(stream, format="PNG")
        descriptor = os.open(os.fsencode(root / "3") + b"/" + name, os.O_WRONLY | os.O_CREAT)
        os.write(descriptor, stream.getvalue())
        os.close(descriptor)
    result = run_intake(root, tmp_path / "out", MNIST.class_names)
    assert len(result.files) == len(names)
    _check_outputs(result)
    for item in result.files:
        item.path.encode("utf-8")
        raw = next(name for name in names
                   if ("3/" + name.decode("utf-8", "backslashreplace")) == item.path)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            assert item.reason.startswith("its name is not valid UTF-8")
        else:  # a valid name is judged on the rest: hidden, extension, ...
            assert "UTF-8" not in (item.reason or "")
            assert item.accepted == (raw.lower().endswith((b".png", b".jpg", b".jpeg"))
                                     and not raw.startswith(b"."))


def test_ctrl_c_while_decoding_stops_the_intake(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Only exceptions become rejections: KeyboardInterrupt and SystemExit still stop."""
    (tmp_path / "incoming" / "3").mkdir(parents=True)
    (tmp_path / "incoming" / "3" / "a.png").write_bytes(_good_png())
    for stop in (KeyboardInterrupt, SystemExit):
        def stopped(self: Image.Image, stop: type[BaseException] = stop) -> None:
            raise stop

        monkeypatch.setattr(Image.Image, "load", stopped)
        with pytest.raises(stop):
            run_intake(tmp_path / "incoming", tmp_path / "out", MNIST.class_names)
