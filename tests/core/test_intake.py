"""Intake of an ImageFolder-layout folder: every file accepted or rejected with a reason."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.datasets import load_split
from tasks.core.errors import DataError
from tasks.core.idx import parse_idx_images
from tasks.core.images import load_user_image
from tasks.core.intake import (
    HOLDOUT_MODULUS,
    MAX_FILE_BYTES,
    class_folders,
    folder_digest,
    read_manifest,
    run_intake,
)
from tasks.core.registry import FASHION_MNIST, MNIST


def _draw(path: Path, seed: int, *, fmt: str = "PNG") -> None:
    """A dark random-walk scribble on a white page, different for every seed."""
    rng = np.random.default_rng(seed)
    page = np.full((64, 48), 255, np.uint8)
    y, x = rng.integers(16, 40), rng.integers(12, 30)
    for _ in range(60):
        y, x = np.clip([y + rng.integers(-2, 3), x + rng.integers(-2, 3)], 4, [58, 42])
        page[y - 2:y + 2, x - 2:x + 2] = 20
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(page).save(path, format=fmt)


@pytest.fixture()
def incoming(tmp_path: Path) -> Path:
    root = tmp_path / "incoming"
    _draw(root / "3" / "a.png", 1)
    _draw(root / "7" / "c.jpg", 2, fmt="JPEG")
    _draw(root / "7" / "sub" / "deep.png", 3)
    (root / "3" / "b.png").write_bytes((root / "3" / "a.png").read_bytes())
    _draw(root / "eleven" / "d.png", 4)
    (root / "5").mkdir()
    (root / "5" / "notes.txt").write_text("not a picture")
    (root / "5" / "fake.png").write_text("not a png either")
    with open(root / "5" / "huge.png", "wb") as stream:
        stream.truncate(MAX_FILE_BYTES + 1)
    _draw(root / "loose.png", 5)
    (root / "3" / ".DS_Store").write_bytes(b"\0\1")
    os.symlink(root / "3" / "a.png", root / "3" / "link.png")
    return root


def test_each_file_is_accepted_or_rejected_with_its_reason(incoming: Path, tmp_path: Path,
                                                            ) -> None:
    result = run_intake(incoming, tmp_path / "out", MNIST.class_names)
    assert [item.path for item in result.accepted] == ["3/a.png", "7/c.jpg", "7/sub/deep.png"]
    assert [item.label for item in result.accepted] == [3, 7, 7]
    reasons = {item.path: item.reason for item in result.rejected}
    assert reasons["3/b.png"] == "duplicate of 3/a.png"
    assert reasons["eleven/d.png"].startswith("unknown class folder 'eleven'")
    assert reasons["5/notes.txt"].startswith("not an image: extension '.txt'")
    assert reasons["5/fake.png"].startswith("not a usable image")
    assert reasons["5/huge.png"].startswith("too large")
    assert reasons["loose.png"].startswith("not inside a class folder")
    assert reasons["3/.DS_Store"] == "hidden file or folder"
    assert reasons["3/link.png"].startswith("not a regular file")
    assert len(result.files) == 11


def test_outputs_hold_every_accepted_picture_preprocessed_like_predict(incoming: Path,
                                                                        tmp_path: Path) -> None:
    result = run_intake(incoming, tmp_path / "out", MNIST.class_names)
    X, y = load_split(Path(result.outputs["incoming"]))
    X_hold, y_hold = load_split(Path(result.outputs["holdout"]))
    assert y_hold.tolist() == [item.label for item in result.accepted if item.holdout]
    held = [item for item in result.accepted if item.holdout]
    kept = [item for item in result.accepted if not item.holdout]
    assert (X.shape, X_hold.shape) == ((len(kept), 784), (len(held), 784))
    assert y.tolist() == [item.label for item in kept]
    for row, item in zip(X, kept, strict=True):
        np.testing.assert_array_equal(row, load_user_image(incoming / item.path))
    manifest = json.loads(Path(result.outputs["manifest"]).read_text())
    assert {item["path"] for item in manifest["rejected"]} == {
        item.path for item in result.rejected}
    assert read_manifest(Path(result.outputs["manifest"])) == result


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_no_folder_or_an_empty_one_is_no_new_data(tmp_path: Path, state: str) -> None:
    folder = tmp_path / "incoming"
    if state == "empty":
        folder.mkdir()
    result = run_intake(folder, tmp_path / "out", MNIST.class_names)
    assert result.files == [] and result.digest == "empty"
    for name in ("incoming", "holdout"):
        X, y = load_split(Path(result.outputs[name]))
        assert X.shape == (0, 784) and y.shape == (0,)


def test_the_digest_follows_paths_and_content_only(incoming: Path) -> None:
    before = folder_digest(incoming)
    os.utime(incoming / "3" / "a.png", (0, 0))
    assert folder_digest(incoming) == before  # a touched file is the same data
    (incoming / "7" / "c.jpg").rename(incoming / "7" / "c2.jpg")
    renamed = folder_digest(incoming)
    assert renamed != before
    _draw(incoming / "3" / "a.png", 99)
    assert folder_digest(incoming) not in (before, renamed)


def test_the_holdout_is_a_tenth_by_content_and_never_moves(tmp_path: Path) -> None:
    root = tmp_path / "incoming"
    for seed in range(300):
        _draw(root / str(seed % 10) / f"{seed}.png", seed)
    first = run_intake(root, tmp_path / "one", MNIST.class_names)
    held = {item.path for item in first.accepted if item.holdout}
    assert all(item.holdout == (int(item.sha256[:16], 16) % HOLDOUT_MODULUS == 0)
               for item in first.accepted)
    assert 10 <= len(held) <= 55  # ~30 expected of 300
    for seed in range(300, 400):
        _draw(root / "4" / f"{seed}.png", seed)
    second = run_intake(root, tmp_path / "two", MNIST.class_names)
    assert {item.path for item in second.accepted if item.holdout and
            int(item.path.split("/")[1].split(".")[0]) < 300} == held


def test_fashion_mnist_folders_by_index_or_registry_name() -> None:
    folders = class_folders(FASHION_MNIST.class_names)
    assert folders["t-shirt_top"] == folders["0"] == 0
    assert folders["ankle_boot"] == folders["ankle boot"] == folders["9"] == 9
    assert "10" not in folders and "eleven" not in class_folders(MNIST.class_names)


def test_a_damaged_manifest_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(DataError, match=r"manifest\.json: cannot read it as an intake manifest"):
        read_manifest(tmp_path / "manifest.json")


def _write_bytes_name(folder: Path, name: bytes, content: bytes) -> None:
    """Create ``folder/name`` under a name that may not be UTF-8 (Linux names are bytes)."""
    os.makedirs(os.fsencode(folder), exist_ok=True)
    descriptor = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(descriptor, content)
    os.close(descriptor)


def test_a_name_that_is_not_utf8_is_rejected_by_its_escaped_name(incoming: Path,
                                                                  tmp_path: Path) -> None:
    _write_bytes_name(incoming / "3", b"bad\xff\xfe.png", (incoming / "7" / "sub" /
                                                          "deep.png").read_bytes())
    _write_bytes_name(incoming / "7", b"\xe9t\xe9.png", b"latin-1 name")  # "été" in Latin-1
    result = run_intake(incoming, tmp_path / "out", MNIST.class_names)
    reasons = {item.path: item.reason for item in result.rejected}
    assert reasons["3/bad\\xff\\xfe.png"] == ("its name is not valid UTF-8 (the odd bytes are "
                                                "shown as \\xNN); rename it")
    assert reasons["7/\\xe9t\\xe9.png"].startswith("its name is not valid UTF-8")
    assert [item.path for item in result.accepted] == ["3/a.png", "7/c.jpg", "7/sub/deep.png"]
    manifest = Path(result.outputs["manifest"])
    manifest.read_bytes().decode("utf-8")
    assert read_manifest(manifest) == result


def test_a_class_folder_or_intake_folder_not_named_in_utf8(tmp_path: Path) -> None:
    root = os.fsencode(tmp_path) + b"/inbox-\xff"
    _draw(Path(os.fsdecode(root)) / "3" / "a.png", 1)
    _draw(Path(os.fsdecode(root)) / "3" / "sub" / "b.png", 2)
    _write_bytes_name(Path(os.fsdecode(root + b"/\xff")), b"c.png", b"anything")
    result = run_intake(Path(os.fsdecode(root)), tmp_path / "out", MNIST.class_names)
    assert [item.path for item in result.accepted] == ["3/a.png", "3/sub/b.png"]
    assert result.incoming == f"{tmp_path}/inbox-\\xff"
    assert [(item.path, item.reason.split(" (")[0]) for item in result.rejected] == [
        ("\\xff/c.png", "its name is not valid UTF-8")]
    result.summary().encode("utf-8")


def test_the_digest_reads_names_that_are_not_utf8_and_follows_their_content(
        incoming: Path) -> None:
    before = folder_digest(incoming)
    _write_bytes_name(incoming / "3", b"bad\xff\xfe.png", b"one")
    one = folder_digest(incoming)
    _write_bytes_name(incoming / "3", b"bad\xff\xfe.png", b"two")
    two = folder_digest(incoming)
    os.rename(os.fsencode(incoming / "3") + b"/bad\xff\xfe.png",
              os.fsencode(incoming / "3") + b"/bad\xfe\xff.png")
    assert len({before, one, two, folder_digest(incoming)}) == 4


def _mnist_test_digit(mirror: Path, index: int) -> np.ndarray:
    with gzip.open(mirror / "t10k-images-idx3-ubyte.gz") as stream:
        return parse_idx_images(stream.read(), "t10k-images")[index]


def test_pictures_without_a_digit_are_rejected_and_a_real_digit_is_taken(
        tmp_path: Path, mnist_mirror: Path) -> None:
    """Blank paper, white ink on a transparent background and a speck are "no digit found",
    never an all-zero training row; an MNIST test digit drawn on paper is a digit."""
    root = tmp_path / "incoming" / "3"
    root.mkdir(parents=True)
    Image.new("L", (300, 200), 255).save(root / "blank.png")
    Image.new("L", (300, 200), 255).save(root / "blank.jpg", format="JPEG")
    white_ink = np.zeros((64, 64, 4), np.uint8)
    white_ink[10:54, 28:36] = 255  # an opaque white "1" on clear pixels
    Image.fromarray(white_ink, mode="RGBA").save(root / "white-on-clear.png")
    speck = np.full((200, 200), 255, np.uint8)
    speck[120:123, 60:63] = 200  # a faint 3x3 speck
    Image.fromarray(speck).save(root / "speck.png")
    Image.fromarray(255 - _mnist_test_digit(mnist_mirror, 18)).resize((112, 112)).save(
        root / "digit.png")  # test image 18 is a 3, dark ink on white, 4x larger
    result = run_intake(tmp_path / "incoming", tmp_path / "out", MNIST.class_names)
    assert [item.path for item in result.accepted] == ["3/digit.png"]
    reasons = {item.path: item.reason for item in result.rejected}
    assert set(reasons) == {"3/blank.png", "3/blank.jpg", "3/white-on-clear.png", "3/speck.png"}
    assert all(reason.startswith("no digit found (its ink fills 0.") for reason in
               reasons.values()), reasons
    rows = sum(len(load_split(Path(result.outputs[name]))[1]) for name in ("incoming", "holdout"))
    assert rows == 1
