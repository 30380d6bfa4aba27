"""The prediction command's image input against hostile files: one finite (784,) row, a
DataError naming the file, or "no digit found"; never a traceback, a NaN row or a gigapixel
allocation."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from flows.cli import main as predict_main
from tasks.core.errors import DataError
from tasks.core.export import write_weights_csv
from tasks.core.images import NoDigitError, load_user_image
from tasks.core.network import init_params

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _png_header_only(width: int, height: int, mode: int = 0, depth: int = 8) -> bytes:
    """A PNG whose header declares ``width x height`` and whose data is empty."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, mode, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def _dds_header_only(pixel_format_flags: int = 0, fourcc: bytes = b"\0\0\0\0") -> bytes:
    """A 128-byte DDS file (magic and header, no pixels) with a pixel format Pillow does not
    implement: Pillow opens it whatever its name, then raises NotImplementedError."""
    header = struct.pack("<7I", 124, 0x1007, 28, 28, 0, 0, 0) + bytes(44)
    pixel_format = struct.pack("<2I", 32, pixel_format_flags) + fourcc + bytes(20)
    return b"DDS " + header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0)


def _check(path: Path) -> np.ndarray | None:
    """The row, checked finite; or None after checking the DataError names the file (a
    picture without a digit says so; its caller names the file)."""
    try:
        row = load_user_image(path)
    except NoDigitError as verdict:
        assert str(verdict).startswith("no digit found")
        return None
    except DataError as error:
        assert str(path) in str(error)
        return None
    assert row.shape == (784,) and row.dtype == np.float32
    assert np.isfinite(row).all()
    return row


def _good_png() -> bytes:
    stream = io.BytesIO()
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 12:16] = 255
    Image.fromarray(pixels).save(stream, format="PNG")
    return stream.getvalue()


@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.png"
    path.write_bytes(data)
    _check(path)


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1,
                      max_size=8), cut=st.integers(0, 400))
def test_mutated_and_truncated_png(tmp_path: Path, flips: list[tuple[int, int]],
                                   cut: int) -> None:
    data = bytearray(_good_png())
    for position, value in flips:
        data[position % len(data)] = value
    path = tmp_path / "mutated.png"
    path.write_bytes(bytes(data[: len(data) - cut]))
    _check(path)


@FUZZ
@given(width=st.integers(1, 300), height=st.integers(1, 300),
       mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]),
       fmt=st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "JPEG"]), seed=st.integers(0, 9))
def test_real_images_of_any_size_and_mode(tmp_path: Path, width: int, height: int, mode: str,
                                          fmt: str, seed: int) -> None:
    """A white bar on dark noise: a digit in any picture of 8x8 pixels or more; smaller ones
    may hold no digit (the bar reaches the border, read as paper)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 40, (height, width), dtype=np.uint8)
    pixels[height // 4:3 * height // 4 + 1, 2 * width // 5:3 * width // 5 + 1] = 255
    image = Image.fromarray(pixels).convert(mode)
    path = tmp_path / f"digit.{fmt.lower()}"
    try:
        image.save(path, format=fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format; nothing to read back
    try:
        row = load_user_image(path)
    except NoDigitError:
        assert min(width, height) < 8, f"a {width}x{height} {mode} {fmt} bar must be a digit"
        return
    assert row.shape == (784,) and np.isfinite(row).all()


@pytest.mark.parametrize(("flags", "fourcc"), [(0, b"\0\0\0\0"), (0x4, b"ABCD")])
def test_a_format_pillow_does_not_implement_is_a_data_error(tmp_path: Path, flags: int,
                                                           fourcc: bytes) -> None:
    path = tmp_path / "scan.png"
    path.write_bytes(_dds_header_only(flags, fourcc))
    assert len(path.read_bytes()) == 128
    with pytest.raises(DataError, match=r"scan\.png is not a readable image "
                                        r"\(NotImplementedError: "):
        load_user_image(path)


def test_ctrl_c_while_decoding_is_not_swallowed(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(_good_png())

    def interrupted(self: Image.Image) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "load", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_user_image(path)


@pytest.mark.parametrize(("width", "height"), [(0, 0), (0, 28), (28, 0)])
def test_zero_sized_images_are_refused(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(_png_header_only(width, height))
    assert _check(path) is None


@pytest.mark.parametrize(("width", "height"), [(8_000, 8_000), (100_000, 100_000),
                                               (2**31 - 1, 2**31 - 1)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path, width: int,
                                                         height: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(width, height))  # ~60 bytes claiming up to 4.6e18 pixels
    with pytest.raises(DataError) as caught:
        load_user_image(path)
    assert str(path) in str(caught.value)


def test_a_16_bit_digit_keeps_its_shape(tmp_path: Path) -> None:
    """A 16-bit PNG (values up to 65535) is scaled, not clipped to white."""
    pixels = np.zeros((28, 28), np.uint16)
    pixels[6:22, 12:16] = 60_000
    Image.fromarray(pixels).save(tmp_path / "deep.png")
    eight = np.zeros((28, 28), np.uint8)
    eight[6:22, 12:16] = 255
    Image.fromarray(eight).save(tmp_path / "eight.png")
    row = load_user_image(tmp_path / "deep.png")
    np.testing.assert_allclose(row, load_user_image(tmp_path / "eight.png"), atol=1e-5)


def test_transparent_rgba_is_paper(tmp_path: Path) -> None:
    Image.new("RGBA", (40, 30), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    with pytest.raises(NoDigitError):  # blank paper: no digit, not a row of zeros or NaN
        load_user_image(tmp_path / "clear.png")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_float_images_are_refused(tmp_path: Path, value: float) -> None:
    pixels = np.zeros((28, 28), np.float32)
    pixels[3, 3] = value
    Image.fromarray(pixels).save(tmp_path / "float.tiff")
    assert _check(tmp_path / "float.tiff") is None


def test_predict_command_prints_one_line_for_a_bomb(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    write_weights_csv(init_params(4, np.random.RandomState(0), scale=0.1, dtype=np.float64,
                                  he=False), tmp_path)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))
    assert predict_main(["predict", "--weights", str(tmp_path), str(bomb)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bomb) in err and "Traceback" not in err
