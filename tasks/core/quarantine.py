"""Quarantine: files the validation refused are moved aside, listed with their reason, and can
be released. Nothing is ever deleted.

    <dataset>/quarantine/quarantine.json        the table: every quarantined file, its reason
    <dataset>/quarantine/files/<class>/<name>   the files, moved out of the intake folder
    <dataset>/quarantine/released.json          sha256 of every file a person released

A released file goes back to ``<incoming>/<class>/<name>`` and its sha256 is remembered, so the
next run trains on it whatever the checks say (a person looked at it). Moving the file out of
the intake folder is what keeps a refused file out of every later run; moving it back is what
brings it in.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.core.errors import DataError
from tasks.engine.atomic import write_text_atomic

TABLE = "quarantine.json"
RELEASED = "released.json"
FILES = "files"


@dataclass(frozen=True)
class QuarantinedFile:
    """One refused file: ``path`` relative to the intake folder (``<class>/<name>``),
    ``stored`` relative to the quarantine folder, the ``check`` that refused it (label,
    leakage, duplicate), the ``reason`` in words and, for a copy, the image it ``copies``."""

    path: str
    sha256: str
    label: int
    check: str
    reason: str
    copies: str = ""
    stored: str = ""
    when: str = ""
    incoming: str = ""  # the intake folder it was taken from, where a release puts it back


class ReleaseError(DataError):
    """A file given to ``mnist-flow release`` is not in the quarantine, or cannot go back."""


def read_table(quarantine_dir: Path) -> list[QuarantinedFile]:
    """Every file in quarantine (``[]`` when none); DataError naming a damaged table."""
    path = Path(quarantine_dir) / TABLE
    if not path.exists():
        return []
    try:
        return [QuarantinedFile(**item) for item in json.loads(path.read_text("utf-8"))]
    except (OSError, ValueError, TypeError) as error:
        raise DataError(f"{path}: cannot read it as the quarantine table ({error}); the files "
                        f"are in {path.parent / FILES}, move them back by hand") from None


def released_digests(quarantine_dir: Path) -> set[str]:
    """sha256 of the files people released: trusted whatever the checks say."""
    path = Path(quarantine_dir) / RELEASED
    try:
        return set(json.loads(path.read_text("utf-8"))) if path.exists() else set()
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read it ({error}); delete it and release again"
                        ) from None


def quarantine_files(incoming: Path, quarantine_dir: Path, refused: Sequence[QuarantinedFile],
                     when: str) -> list[QuarantinedFile]:
    """Move each refused file from ``incoming`` into ``quarantine_dir/files/<path>`` and add
    it to the table; return the new entries. A file already gone (moved by a person while the
    run went on) is skipped; one that cannot be moved is listed with ``stored`` empty."""
    moved = []
    for item in refused:
        source = Path(incoming) / item.path
        target = _free_name(Path(quarantine_dir) / FILES / item.path)
        if not source.is_file():
            continue
        entry = {**asdict(item), "when": when, "incoming": str(incoming)}
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)  # a rename on one filesystem, a copy and delete across
        except OSError as error:  # a read-only intake folder: listed, left, never trained on
            entry["reason"] += f"; could not be moved, left in the intake folder ({error})"
        else:
            entry["stored"] = target.relative_to(quarantine_dir).as_posix()
        moved.append(QuarantinedFile(**entry))
    if moved:
        write_table(quarantine_dir, [*read_table(quarantine_dir), *moved])
    return moved


def release(quarantine_dir: Path, files: Iterable[Path],
            incoming: Path | None = None) -> Iterator[str]:
    """Move each of ``files`` (a path to the stored file, or its ``<class>/<name>``) back to
    the intake folder it came from (or ``incoming``) and remember its sha256 as released;
    yield one line per file released. Every file is found before any moves."""
    quarantine_dir = Path(quarantine_dir)
    table = read_table(quarantine_dir)
    wanted = [_find(quarantine_dir, table, Path(file)) for file in files]
    released = released_digests(quarantine_dir)
    for item in wanted:
        target = Path(incoming or item.incoming) / item.path
        if target.exists():
            raise ReleaseError(f"cannot release {item.stored}: {target} already exists; "
                               f"move one of the two away first")
        # Remembered first: a release stopped before the move leaves a trusted file still in
        # quarantine (release it again), never an untrusted one back in the intake.
        released.add(item.sha256)
        write_text_atomic(quarantine_dir / RELEASED, json.dumps(sorted(released), indent=1))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(quarantine_dir / item.stored, target)
        table = [entry for entry in table if entry.stored != item.stored]
        write_table(quarantine_dir, table)
        yield (f"released {item.path} ({item.check}: {item.reason}) -> {target}; the next "
               f"run trains on it")


def _find(quarantine_dir: Path, table: list[QuarantinedFile], file: Path) -> QuarantinedFile:
    absolute = Path(os.path.abspath(file))
    for item in (entry for entry in table if entry.stored):
        stored = Path(os.path.abspath(quarantine_dir / item.stored))
        if absolute == stored or file.as_posix() in (item.path, item.stored):
            return item
    raise ReleaseError(f"{file} is not in the quarantine {quarantine_dir / TABLE}; "
                       f"`mnist-flow release --list` shows what is")


def describe_table(table: Sequence[QuarantinedFile]) -> Iterator[str]:
    """Lines of ``mnist-flow release --list``: one per file, its check and reason."""
    for item in table:
        yield f"{item.stored}  [{item.check}] {item.reason}"


def _free_name(target: Path) -> Path:
    """``target``, or ``<stem>.2<suffix>``, ... when a file of that name is already held."""
    candidate, number = target, 1
    while candidate.exists():
        number += 1
        candidate = target.with_name(f"{target.stem}.{number}{target.suffix}")
    return candidate


def write_table(quarantine_dir: Path, table: list[QuarantinedFile]) -> None:
    write_text_atomic(Path(quarantine_dir) / TABLE,
                      json.dumps([asdict(item) for item in table], indent=1))
