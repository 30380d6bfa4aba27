"""The run ledger: one JSON line per training (main flow or sweep point), appended, never edited.

Each line says when, what (every training setting and the seed), on which data (a digest of
the Parquet splits' recorded sources and preprocessing), with which code and library versions,
and how well it scored. Appends are a single ``write`` of one complete line on a file opened
with ``O_APPEND``: the kernel places each write at the end, so concurrent writers (sweep
workers, two flows) never interleave within a line on a local filesystem, and a crash can at
worst leave a torn last line, which the next append steps over (a newline first, decided
under a brief ``flock``) and the reader skips with a warning.

Every reader (``mnist-flow history``, the promotions table, the sweep's check for a line
already written) reads lines through :func:`read_entries` as :class:`LedgerEntry` records, so
a line a reader could not use is skipped in one place, with one warning.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.core.errors import DataError, OutputError

logger = logging.getLogger(__name__)

LEDGER_NAME = "ledger.jsonl"
_LOCK_SECONDS = 5.0
_BLOCK = 1 << 20  # bytes read at a time from the end: ~1,000 lines
# The identity of a split: where its pixels came from and how they were transformed.
_DATA_KEYS = ("mnist_flow.preprocessing", "mnist_flow.source_sha256.images",
              "mnist_flow.source_sha256.labels")


class _LedgerRecord(BaseModel):
    # strict: a string or null where a number belongs is damage, not a value to convert.
    # Fields no reader uses (``seed``, ``preset``, ``point``) are ignored, whatever they hold.
    model_config = ConfigDict(strict=True, frozen=True)


class RecordedDecision(_LedgerRecord):
    """The promotion gate's decision as a main run's line keeps it (its ``promotion``)."""

    decided: bool  # the gate ran in this run; false: the decision came from cache
    outcome: str
    reason: str
    policy: str
    candidate: str
    candidate_accuracy: float
    production: str | None  # none: nothing was in production
    production_accuracy: float | None
    # the rest is shown by no table: a line may do without (older lines hold ``tolerance``,
    # the gate's setting before the paired test; it is ignored)
    thresholds: dict[str, float] | None = None  # significance, min_gain, max_class_drop
    comparison: dict[str, Any] | None = None  # the paired figures (gate_rules.comparison_figures)
    eval_sizes: dict[str, int] | None = None
    decided_at: str | None = None


class LedgerEntry(_LedgerRecord):
    """One ledger line as every reader sees it (:func:`make_entry` writes it)."""

    time: str  # ISO 8601, UTC
    kind: str  # main or sweep
    run: str
    dataset: str
    cached: bool
    parameters: dict[str, Any]  # every training setting, as JSON values
    metrics: dict[str, float]  # NaN allowed: a diverged training's loss
    data_digest: str
    code_digest: str
    model_dir: str
    versions: dict[str, str] = Field(default_factory=dict)
    promotion: RecordedDecision | None = None  # main runs' lines only


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


# ---------------------------------------------------------------- reading
def parse_entry(line: bytes | str) -> LedgerEntry:
    """One ledger line as the record every reader uses; ValueError saying why it is not one.

    Any line ``json.dumps`` can write reads back: the fast parser's rare refusals (a lone
    surrogate from a path that is not UTF-8) get a second reading by ``json``'s own.
    """
    try:
        return LedgerEntry.model_validate_json(line)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]
        if problem["type"] != "json_invalid":
            raise ValueError(_why(problem)) from None
    try:
        document = json.loads(line)
    except (ValueError, RecursionError):  # ValueError: also bytes that are not UTF-8
        raise ValueError("not JSON (a torn or damaged line)") from None
    try:
        return LedgerEntry.model_validate(document)
    except ValidationError as error:
        raise ValueError(_why(error.errors(include_url=False)[0])) from None


def read_entries(path: Path, *, last: int | None = None,
                 where: Callable[[LedgerEntry], bool] | None = None,
                 warn: Callable[[str], None] = logger.warning) -> list[LedgerEntry]:
    """The ledger's entries that ``where`` accepts (all by default), oldest first: only the
    ``last`` N of them if given; none if the file is absent.

    Whatever the file holds: a line that is not a complete :class:`LedgerEntry` (torn by a
    crash, not JSON, not an object, a field missing, null or a string where a number belongs)
    is skipped, and the read ends with one call of ``warn`` saying how many were skipped, and
    the first one's line number and why. The file is read from its end and reading stops at
    the ``last``-th entry, so ``last`` costs the lines it needs, not the whole file: damage in
    the older lines, which are not read, goes unmentioned. A file that cannot be read at all
    is a DataError saying why.
    """
    if last is not None and last < 1:
        raise ValueError(f"last must be at least 1 (got {last})")
    entries: list[LedgerEntry] = []
    skipped, earliest, reason = 0, 0, ""  # read from the end: the last one noted is the first
    stream = _open_ledger(path)
    if stream is None:
        return []
    with stream:
        try:
            for offset, line in _lines_from_end(stream):
                if not line.strip():  # the worst an append that found the lock held leaves
                    continue
                try:
                    entry = parse_entry(line)
                except ValueError as why:
                    skipped, earliest, reason = skipped + 1, offset, str(why)
                    continue
                if where is None or where(entry):
                    entries.append(entry)
                    if len(entries) == last:
                        break
            if skipped:
                stream.seek(0)
                number = stream.read(earliest).count(b"\n") + 1
                warn(_skipped(path, skipped, number, reason))
        except OSError as error:
            raise _unreadable(path, error.strerror) from None
    entries.reverse()
    return entries


def _skipped(path: Path, count: int, number: int, reason: str) -> str:
    lines = (f"{count} lines that are not complete entries; the first,"
             if count > 1 else "1 line that is not a complete entry;")
    return f"{path}: skipped {lines} line {number}: {reason}"


def _why(problem: Mapping[str, Any]) -> str:
    """A pydantic error about a line, in words: which field, what it should be, what it is."""
    if problem["type"] == "json_invalid":
        return "not JSON (a torn or damaged line)"
    field = ".".join(str(part) for part in problem["loc"]) or "the line"
    if problem["type"] == "missing":
        return f"{field} is missing"
    found = json.dumps(problem["input"])  # a value of a JSON document: never fails
    found = found if len(found) <= 40 else found[:37] + "..."
    return f"{field} {problem['msg'].removeprefix('Input ')}, found {found}"


def _lines_from_end(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, line)`` of each line, the last first, reading ``_BLOCK`` bytes at a time
    (the bytes after the last newline count as a line: a torn one)."""
    end = os.fstat(stream.fileno()).st_size
    carry = b""  # the start of a line whose beginning is in an earlier block
    while end > 0:
        start = max(0, end - _BLOCK)
        stream.seek(start)
        block = stream.read(end - start) + carry
        lines = block.split(b"\n")
        position = start + len(block)
        for line in reversed(lines[1:]):
            position -= len(line)
            yield position, line
            position -= 1  # its newline
        carry, end = lines[0], start
    yield 0, carry


def _open_ledger(path: Path) -> BinaryIO | None:
    """The ledger open for reading, or None if there is none; DataError if it is not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the reader
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _unreadable(path, error.strerror) from None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return os.fdopen(fd, "rb")
    os.close(fd)
    raise _unreadable(path, "it is not a regular file", "move it away")


def _unreadable(path: Path, why: str, repair: str = "fix its permissions") -> DataError:
    return DataError(f"cannot read the run ledger {path}: {why}; {repair}, or point "
                     f"--artifacts-dir at another folder")
