"""Intake: new labelled pictures in torchvision's ImageFolder layout become training rows.

    <incoming>/<class>/<any name>.png|.jpg|.jpeg     (any depth below the class folder)

``<class>`` is a class index (``0``-``9``) or the dataset's class name with ``/`` and spaces
written as ``_`` (``T-shirt_top``, ``Ankle_boot``; case ignored). Every file is either accepted
or rejected with a reason, never raised on: a scheduled run must not fail on one bad file.

Rejected: names that are not valid UTF-8 (listed with their odd bytes as ``\\xNN``), hidden
files, files that are not regular files (symlinks, sockets), extensions other than
.png/.jpg/.jpeg, files over ``MAX_FILE_BYTES`` (10 MiB: a phone photo of a digit is 1-5 MB, a
scanned page at 300 dpi ~1 MB as PNG), files outside a known class folder, pictures that do not
decode (whatever Pillow raises), pictures with no digit (``no digit found``: blank, white on
transparent, a speck; :data:`tasks.core.images.MIN_INK`), and files whose bytes duplicate an
earlier file (by relative path order).

Holdout: a file is held out for evaluation when the first 8 bytes of its sha256, read as an
integer, are divisible by ``HOLDOUT_MODULUS`` (10): about a tenth of the files, and a file's
place never changes when others come or go. Outputs, in the stage's folder:
``incoming.parquet`` (training rows) and ``holdout.parquet`` (held-out rows), both with the
schema of ``train.parquet``, and ``manifest.json`` naming every file with its outcome.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tasks.core.datasets import N_FEATURES, standardize_images, write_split
from tasks.core.errors import DataError
from tasks.core.inbox import (
    MAX_FILE_BYTES,
    folder_digest,
    is_utf8_name,
    list_files,
    printable_name,
)
from tasks.engine.atomic import sha256_file, write_text_atomic

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})
HOLDOUT_MODULUS = 10
INCOMING_FILE = "incoming.parquet"
HOLDOUT_FILE = "holdout.parquet"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class IntakeFile:
    """One file of the intake folder: ``path`` is relative to it, POSIX style, and printable
    (:func:`tasks.core.inbox.printable_name`), as is ``reason``."""

    path: str
    sha256: str | None = None
    label: int | None = None
    holdout: bool = False
    reason: str | None = None  # None: accepted

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class IntakeResult:
    """What one intake produced: the folder's digest, every file, and the output paths."""

    incoming: str
    digest: str
    files: list[IntakeFile] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def accepted(self) -> list[IntakeFile]:
        return [item for item in self.files if item.accepted]

    @property
    def rejected(self) -> list[IntakeFile]:
        return [item for item in self.files if not item.accepted]

    def summary(self) -> str:
        """One line: how many files were used, held out and rejected."""
        held = sum(item.holdout for item in self.accepted)
        return (f"intake {self.incoming}: {len(self.accepted) - held} for training, {held} held "
                f"out, {len(self.rejected)} rejected")


def class_folders(class_names: Sequence[str]) -> dict[str, int]:
    """Accepted class-folder names (lower case) -> label: ``"3"``, ``"t-shirt_top"``, ..."""
    names: dict[str, int] = {}
    for label, name in enumerate(class_names):
        for alias in (str(label), name, name.replace("/", "_").replace(" ", "_")):
            names[alias.lower()] = label
    return names


def scan_incoming(incoming: Path, class_names: Sequence[str]) -> tuple[list[IntakeFile],
                                                                      NDArray[np.uint8]]:
    """Judge every file; return them (sorted by path) and the accepted pictures as
    ``(n_accepted, 28, 28) uint8`` MNIST-like digits, in the order of the accepted files."""
    incoming = Path(incoming)
    folders = class_folders(class_names)
    seen: dict[str, str] = {}
    files: list[IntakeFile] = []
    pixels: list[NDArray[np.uint8]] = []
    for relative in sorted(list_files(incoming), key=printable_name):
        item, digit = _judge(incoming, relative, folders, seen)
        # Logs, events and the manifest are UTF-8: a name's odd bytes are shown, not written.
        files.append(replace(item, path=printable_name(item.path),
                             reason=item.reason and printable_name(item.reason)))
        if digit is not None:
            pixels.append(digit)
    stacked = np.stack(pixels) if pixels else np.zeros((0, 28, 28), np.uint8)
    return files, stacked


def run_intake(incoming: Path, out_dir: Path, class_names: Sequence[str]) -> IntakeResult:
    """Scan ``incoming`` and write ``incoming.parquet``, ``holdout.parquet`` and
    ``manifest.json`` into ``out_dir`` (each atomically). A missing or empty folder writes
    empty, valid outputs. Raises only :class:`OutputError` when ``out_dir`` is not writable."""
    incoming, out_dir = Path(incoming), Path(out_dir)
    digest = folder_digest(incoming)
    files, digits = scan_incoming(incoming, class_names)
    accepted = [item for item in files if item.accepted]
    held = np.array([item.holdout for item in accepted], dtype=bool)
    labels = np.array([item.label for item in accepted], dtype=np.uint8)
    features = standardize_images(digits) if len(digits) else np.zeros((0, N_FEATURES),
                                                                        np.float32)
    metadata = {"mnist_flow.split": "incoming", "mnist_flow.incoming_sha256": digest,
                "mnist_flow.preprocessing": "MNIST-like centring (tasks/core/images.py), then "
                                            "per-image standardization"}
    outputs = {"incoming": out_dir / INCOMING_FILE, "holdout": out_dir / HOLDOUT_FILE,
               "manifest": out_dir / MANIFEST_FILE}
    write_split(outputs["incoming"], features[~held], labels[~held], metadata)
    write_split(outputs["holdout"], features[held], labels[held],
                {**metadata, "mnist_flow.split": "holdout"})
    result = IntakeResult(printable_name(str(incoming)), digest, files,
                          {name: str(path) for name, path in outputs.items()})
    write_text_atomic(outputs["manifest"], json.dumps(_manifest(result), indent=1))
    return result


def read_manifest(path: Path) -> IntakeResult:
    """Load a ``manifest.json`` written by :func:`run_intake`; DataError naming it otherwise."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        files = [IntakeFile(**item) for item in raw["accepted"] + raw["rejected"]]
        return IntakeResult(raw["incoming"], raw["digest"], sorted(files, key=lambda f: f.path),
                            raw["outputs"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: cannot read it as an intake manifest ({error}); delete it and "
                        f"run the intake stage again") from None


def _manifest(result: IntakeResult) -> dict:
    return {"incoming": result.incoming, "digest": result.digest,
            "holdout_rule": f"sha256 first 8 bytes % {HOLDOUT_MODULUS} == 0",
            "max_file_bytes": MAX_FILE_BYTES, "outputs": result.outputs,
            "accepted": [asdict(item) for item in result.accepted],
            "rejected": [asdict(item) for item in result.rejected]}


def _judge(incoming: Path, relative: str, folders: dict[str, int], seen: dict[str, str],
           ) -> tuple[IntakeFile, NDArray[np.uint8] | None]:
    """One file's verdict, and its MNIST-like pixels when accepted; records its digest in
    ``seen`` so later copies are rejected as duplicates."""
    parts = relative.split("/")
    reason = next(_reasons(incoming / relative, parts, folders), None)
    if reason:
        return IntakeFile(relative, reason=reason), None
    path = incoming / relative
    label = folders[parts[0].lower()]
    try:
        digest = sha256_file(path)
    except OSError as error:  # removed or made unreadable while we scan
        return IntakeFile(relative, label=label, reason=f"cannot read it ({error})"), None
    if digest in seen:
        return IntakeFile(relative, digest, label, reason=f"duplicate of {seen[digest]}"), None
    seen[digest] = relative
    # Imported here: a run whose intake comes from cache decodes no picture, so importing the
    # flow must not load Pillow (tests/test_imports.py).
    from tasks.core.images import NoDigitError, load_mnist_digit

    try:
        digit = load_mnist_digit(path)
    except NoDigitError as error:
        return IntakeFile(relative, digest, label, reason=str(error)), None
    except DataError as error:  # any failure to decode: read_grayscale says which
        return IntakeFile(relative, digest, label, reason=f"not a usable image: {error}"), None
    holdout = int(digest[:16], 16) % HOLDOUT_MODULUS == 0
    return IntakeFile(relative, digest, label, holdout), digit


def _reasons(path: Path, parts: list[str], folders: dict[str, int]) -> Iterator[str]:
    """Why a file is refused before it is read, first reason first; nothing if it may pass."""
    if not is_utf8_name("/".join(parts)):
        yield "its name is not valid UTF-8 (the odd bytes are shown as \\xNN); rename it"
    if any(part.startswith(".") for part in parts):
        yield "hidden file or folder"
    if len(parts) < 2:
        yield "not inside a class folder; put it in <incoming>/<class>/"
    elif parts[0].lower() not in folders:
        yield f"unknown class folder {parts[0]!r}; expected one of {_folder_hint(folders)}"
    try:
        info = path.lstat()
    except OSError as error:
        yield f"cannot read it ({error.strerror})"
        return
    if not stat.S_ISREG(info.st_mode):
        yield "not a regular file (symlink, folder link or device)"
    elif path.suffix.lower() not in EXTENSIONS:
        yield f"not an image: extension {path.suffix or '(none)'!r}, expected .png, .jpg, .jpeg"
    elif info.st_size > MAX_FILE_BYTES:
        yield f"too large: {info.st_size:,} bytes, limit {MAX_FILE_BYTES:,}"


def _folder_hint(folders: dict[str, int]) -> str:
    by_label: dict[int, list[str]] = {}
    for name, label in folders.items():
        by_label.setdefault(label, []).append(name)
    return ", ".join("/".join(sorted(set(names), key=len)) for names in by_label.values())
