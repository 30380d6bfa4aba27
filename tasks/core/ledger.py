"""The run ledger: one JSON line per training (main flow or sweep point), appended, never edited.

Each line says when, what (every training setting and the seed), on which data (a digest of
the Parquet splits' recorded sources and preprocessing), with which code and library versions,
and how well it scored. Appends are a single ``write`` of one complete line on a file opened
with ``O_APPEND``: the kernel places each write at the end, so concurrent writers (sweep
workers, two flows) never interleave within a line on a local filesystem, and a crash can at
worst leave a torn last line, which the next append steps over (a newline first, decided
under a brief ``flock``) and the reader skips with a warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.core.errors import DataError, OutputError

logger = logging.getLogger(__name__)

LEDGER_NAME = "ledger.jsonl"
_LOCK_SECONDS = 5.0
# The identity of a split: where its pixels came from and how they were transformed.
_DATA_KEYS = ("mnist_flow.preprocessing", "mnist_flow.source_sha256.images",
              "mnist_flow.source_sha256.labels")


def ledger_path(artifacts_dir: Path) -> Path:
    """``<artifacts>/ledger.jsonl``: one ledger per artifacts directory, all datasets.

    Outside the cache folders, so clearing a cache never loses the history of runs.
    """
    return Path(artifacts_dir) / LEDGER_NAME


def data_digest(split_metadata: Mapping[str, Mapping[str, str]]) -> str:
    """A short digest naming the data of the ``{"train": ..., "test": ...}`` Parquet splits,
    from the metadata each was written with (source payload sha256s and preprocessing version;
    the preprocess stage's manifest keeps a copy). Cheap: no 200 MB file is hashed, or even
    opened. The cache separately checks the files' own bytes.
    """
    digest = hashlib.sha256()
    for split in sorted(split_metadata):
        metadata = split_metadata[split]
        for key in _DATA_KEYS:
            digest.update(f"{split}:{key}={metadata.get(key, '')}\n".encode())
    return digest.hexdigest()[:16]


def make_entry(*, kind: str, run: str, dataset: str, parameters: Mapping[str, Any],
               data: str, code: str, versions: Mapping[str, str], metrics: Mapping[str, Any],
               cached: bool, model_dir: Path, **extra: Any) -> dict[str, Any]:
    """One ledger line as a dict. ``kind`` is ``main`` or ``sweep``; ``cached`` says the
    weights came from an earlier identical training rather than being trained by this run."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": kind, "run": run, "dataset": dataset,
        "seed": parameters.get("seed"), "parameters": dict(parameters),
        "data_digest": data, "code_digest": code, "versions": dict(versions),
        "metrics": dict(metrics), "cached": cached, "model_dir": str(model_dir), **extra,
    }


def append_entry(path: Path, entry: Mapping[str, Any]) -> None:
    """Append ``entry`` as one line, with one ``write`` on an ``O_APPEND`` descriptor.

    A file that does not end in a newline ends in a line torn by a crash; the entry then
    starts with a newline of its own, so it is never glued onto that fragment and lost.
    """
    line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO would block the run forever
                raise OutputError(f"the run ledger {path} is not a regular file; move it away, "
                                  f"then run again")
            _lock_briefly(fd)
            if _ends_torn(fd):
                line = b"\n" + line
            written = os.write(fd, line)  # the lock goes with the close
        finally:
            os.close(fd)
    except OSError as error:
        raise OutputError(f"cannot append to the run ledger {path}: {error.strerror}; "
                          f"check the artifacts directory is writable and not full") from None
    if written != len(line):
        raise OutputError(f"the run ledger {path} took {written} of {len(line)} bytes (disk "
                          f"full?); free space, then run again")


def _lock_briefly(fd: int) -> None:
    """Hold the ledger's ``flock`` so no other append is mid-write while we look at the last
    byte (a growing file shows a partial line). Another writer holds it for microseconds; one
    that is stopped is waited on for ``_LOCK_SECONDS`` at most, then the append goes ahead
    (the worst case is a blank line, which the reader skips)."""
    deadline = time.monotonic() + _LOCK_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                logger.warning("the run ledger stayed locked for %.0f s; appending anyway",
                               _LOCK_SECONDS)
                return
            time.sleep(0.01)


def _ends_torn(fd: int) -> bool:
    """True when the file's last byte is not a newline: each complete append ends in one."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def read_entries(path: Path, *, last: int | None = None) -> list[dict[str, Any]]:
    """The ledger's entries, oldest first (only the ``last`` N if given); none if absent.

    Whatever the file holds: a line that is not a JSON object (a write cut short by a crash, a
    damaged byte) is skipped with a warning naming it, and the rest are read. A file that
    cannot be read at all is a DataError saying why.
    """
    try:
        lines = Path(path).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise DataError(f"cannot read the run ledger {path}: {error.strerror}; fix its "
                        f"permissions, or point --artifacts-dir at another folder") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:  # also a line that is not UTF-8
            entry = None
        if isinstance(entry, dict):
            entries.append(entry)
        elif line.strip():
            logger.warning("%s line %d is not a complete entry; skipped", path, number)
    return entries[-last:] if last else entries
