"""The quarantine moves files, never deletes them, lists them with their reason, and gives
them back on release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.core.quarantine import (
    RELEASED,
    QuarantinedFile,
    ReleaseError,
    describe_table,
    quarantine_files,
    read_table,
    release,
    released_digests,
)


def refused(path: str, check: str = "label") -> QuarantinedFile:
    return QuarantinedFile(path, f"sha-{path}", int(path[0]), check, f"{check} says no")


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    incoming, quarantine = tmp_path / "incoming", tmp_path / "artifacts" / "quarantine"
    for name in ("3/a.png", "3/b.png", "7/a.png"):
        (incoming / name).parent.mkdir(parents=True, exist_ok=True)
        (incoming / name).write_bytes(name.encode())
    return incoming, quarantine


def test_refused_files_move_to_the_quarantine_with_their_reason(folders) -> None:
    incoming, quarantine = folders
    moved = quarantine_files(incoming, quarantine, [refused("3/a.png"),
                                                    refused("7/a.png", "leakage")], "now")
    assert [item.stored for item in moved] == ["files/3/a.png", "files/7/a.png"]
    assert not (incoming / "3" / "a.png").exists() and (incoming / "3" / "b.png").exists()
    assert (quarantine / "files" / "3" / "a.png").read_bytes() == b"3/a.png"
    assert read_table(quarantine) == moved and moved[0].incoming == str(incoming)
    assert list(describe_table(moved))[1] == "files/7/a.png  [leakage] leakage says no"
    # a second file of the same name is kept beside the first, not over it
    (incoming / "3" / "a.png").write_bytes(b"again")
    [again] = quarantine_files(incoming, quarantine, [refused("3/a.png")], "later")
    assert again.stored == "files/3/a.2.png" and len(read_table(quarantine)) == 3


def test_a_released_file_goes_back_and_is_remembered(folders) -> None:
    incoming, quarantine = folders
    [item] = quarantine_files(incoming, quarantine, [refused("3/a.png")], "now")
    [line] = release(quarantine, [quarantine / item.stored])
    assert line.startswith("released 3/a.png (label: label says no) -> ")
    assert (incoming / "3" / "a.png").read_bytes() == b"3/a.png"
    assert read_table(quarantine) == [] and released_digests(quarantine) == {"sha-3/a.png"}
    assert json.loads((quarantine / RELEASED).read_text()) == ["sha-3/a.png"]


def test_release_refuses_what_it_cannot_do_and_moves_nothing(folders) -> None:
    incoming, quarantine = folders
    quarantine_files(incoming, quarantine, [refused("3/a.png")], "now")
    with pytest.raises(ReleaseError, match="is not in the quarantine"):
        list(release(quarantine, [Path("3/a.png"), Path("9/nothing.png")]))
    assert (quarantine / "files" / "3" / "a.png").exists()  # found all before moving any
    (incoming / "3" / "a.png").write_bytes(b"a new file of that name")
    with pytest.raises(ReleaseError, match="already exists"):
        list(release(quarantine, [Path("3/a.png")]))
    assert (incoming / "3" / "a.png").read_bytes() == b"a new file of that name"


def test_a_file_that_cannot_move_is_listed_and_left(folders, monkeypatch) -> None:
    import shutil

    incoming, quarantine = folders

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "move", refuse)
    [item] = quarantine_files(incoming, quarantine, [refused("3/a.png")], "now")
    assert item.stored == "" and "could not be moved" in item.reason
    assert (incoming / "3" / "a.png").exists() and read_table(quarantine) == [item]
    with pytest.raises(ReleaseError, match="is not in the quarantine"):
        list(release(quarantine, [Path("3/a.png")]))
