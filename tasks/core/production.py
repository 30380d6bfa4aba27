"""What is in production, read from one truth: the ``production`` link and what it points to.

    <dataset>/production       -> promoted/<model id>      (relative symlink: the truth)
    <dataset>/promoted/<id>/   a copy of the model's files, and production.json: the record of
                               the promotion that put it there
    <dataset>/production.json  a copy of that record beside the link, for people and scripts

A promotion writes the record inside the model's folder, then the copy beside the link, then
swaps the link, all under the pointer's lock (:func:`tasks.engine.pointer.swap_pointer`), so
the three agree whenever the lock is free. A reader that finds them disagreeing, a link that
points nowhere, a model folder without its weights or a record that cannot be read raises
:class:`ProductionDamagedError`: nothing may be decided against a production nobody can name.
:func:`repair_production` rebuilds what it can from what is left. No numpy here: every run,
cached or not, checks production before the gate.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.core.errors import MnistFlowError
from tasks.engine.atomic import write_text_atomic
from tasks.engine.pointer import pointer_lock, swap_pointer

POINTER = "production"
POINTER_JSON = "production.json"
STORE = "promoted"
WEIGHT_FILES = ("W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv")
REPAIR = "mnist-flow production repair"


class ProductionDamagedError(MnistFlowError):
    """Production's link, its model folder or its record is missing, unreadable or in
    disagreement; the message names the file and the repair."""


@dataclass(frozen=True)
class Production:
    """``production.json``: the model in production, its scores, when and why it got there.

    ``path`` is the pointer's target relative to the dataset folder (``promoted/<model>``);
    ``test_accuracy`` is on the test split alone (None if it was not scored); ``previous`` is
    the model it replaced.
    """

    model: str
    path: str
    source: str
    promoted_at: str
    reason: str
    policy: str
    accuracy: float
    test_accuracy: float | None
    scores: dict[str, float]
    eval_sizes: dict[str, int]
    previous: str | None
    previous_accuracy: float | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def parse(cls, text: str) -> Production:
        """The record in ``text``; ValueError unless it is one, with numbers where numbers go."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        record = cls(**data)
        for name in ("model", "path", "promoted_at"):
            if not isinstance(getattr(record, name), str) or not getattr(record, name):
                raise ValueError(f"{name} is not a non-empty string")
        if not isinstance(record.accuracy, int | float) or isinstance(record.accuracy, bool):
            raise ValueError("accuracy is not a number")
        return record


def _damaged(dataset_dir: Path, problem: str) -> ProductionDamagedError:
    return ProductionDamagedError(
        f"production of {dataset_dir} is damaged: {problem}; nothing was promoted. Run "
        f"`{REPAIR} --artifacts-dir {dataset_dir.parent} --dataset {dataset_dir.name}` to "
        f"rebuild it from what is left, or move {dataset_dir / POINTER} and "
        f"{dataset_dir / POINTER_JSON} away to start production afresh")


def read_production(dataset_dir: Path) -> Production | None:
    """The production record, checked against the link; None when nothing was ever promoted
    (neither link nor record). Raises :class:`ProductionDamagedError` for anything in between."""
    dataset_dir = Path(dataset_dir)
    link, beside = dataset_dir / POINTER, dataset_dir / POINTER_JSON
    if not link.is_symlink() and not link.exists():
        if beside.exists():
            raise _damaged(dataset_dir, f"{beside} names a production model but the link "
                                        f"{link} is missing")
        return None
    if not link.is_symlink():
        raise _damaged(dataset_dir, f"{link} is a {'folder' if link.is_dir() else 'file'}, "
                                    f"not the link to the production model")
    target = os.readlink(link)
    if not (dataset_dir / target).is_dir():
        raise _damaged(dataset_dir, f"{link} points to {target}, which is missing")
    missing = [name for name in WEIGHT_FILES if not (dataset_dir / target / name).is_file()]
    if missing:
        raise _damaged(dataset_dir, f"the production model {dataset_dir / target} has no "
                                    f"{', '.join(missing)}")
    try:
        record = Production.parse(beside.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _damaged(dataset_dir, f"{beside} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as error:
        raise _damaged(dataset_dir, f"{beside} cannot be read ({_reason(error)})") from None
    if Path(record.path) != Path(target):
        raise _damaged(dataset_dir, f"{beside} names {record.path} but {link} points to "
                                    f"{target}")
    return record


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error).splitlines()[0][:120]


def install_production(dataset_dir: Path, model_dir: Path, record: Production) -> Path:
    """Copy ``model_dir``'s files into ``promoted/<id>`` (kept if already there), write the
    record inside it and beside the link, and point the link at it. The caller holds the
    pointer's lock (:func:`pointer_lock` of the link), so that it decides and installs in one
    turn."""
    dataset_dir = Path(dataset_dir)
    target = dataset_dir / record.path
    copy_model(Path(model_dir), target)
    write_text_atomic(target / POINTER_JSON, record.to_json())
    return swap_pointer(dataset_dir / POINTER, target, record=dataset_dir / POINTER_JSON,
                        record_text=record.to_json(), locked=True)


def copy_model(source: Path, destination: Path) -> None:
    """Copy the regular files of ``source`` into ``destination`` via a temporary folder; an
    existing ``destination`` (the same content-addressed model promoted before) is kept."""
    if destination.is_dir():
        return
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for item in sorted(source.iterdir()):
            if item.is_file() and not item.is_symlink():
                shutil.copy2(item, tmp / item.name)
        os.rename(tmp, destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def repair_production(dataset_dir: Path, *, now: datetime | None = None) -> str:
    """Rebuild production from what is left, under the pointer's lock; returns what it did.

    In order: a healthy production is left alone; a link to an intact model gets its record
    back (from the copy inside the model folder, else rebuilt from the model's metrics); a
    missing or dangling link is pointed again at the model the record names, copied anew from
    its source folder if its promoted copy is gone. Raises :class:`ProductionDamagedError` when
    nothing names a model that still exists.
    """
    dataset_dir = Path(dataset_dir)
    with pointer_lock(dataset_dir / POINTER):
        try:
            current = read_production(dataset_dir)
        except ProductionDamagedError:
            pass
        else:
            return (f"production is intact: {current.model}" if current
                    else "nothing is in production yet; nothing to repair")
        when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        return _rebuild(dataset_dir, when)


def _rebuild(dataset_dir: Path, when: str) -> str:
    link = dataset_dir / POINTER
    target = Path(os.readlink(link)) if link.is_symlink() else None
    if target is not None and _has_weights(dataset_dir / target):
        record = _record_inside(dataset_dir / target, target) or _rebuilt_record(
            dataset_dir / target, target, when)
        install_production(dataset_dir, dataset_dir / target, record)
        return f"rewrote {dataset_dir / POINTER_JSON} for {record.model} (the link was intact)"
    named = _record_in(dataset_dir)
    if named is None:
        raise _damaged(dataset_dir, "neither the link nor the record names a model that still "
                                    "exists")
    promoted, source = dataset_dir / named.path, Path(named.source)
    origin = promoted if _has_weights(promoted) else source if _has_weights(source) else None
    if origin is None:
        raise _damaged(dataset_dir, f"the model {named.model} it names is gone from "
                                    f"{promoted} and from {source}")
    install_production(dataset_dir, origin, named)
    return f"pointed {link} at {named.path} again (from {origin})"


def _has_weights(folder: Path) -> bool:
    return all((folder / name).is_file() for name in WEIGHT_FILES)


def _record_in(folder: Path) -> Production | None:
    """The ``production.json`` in ``folder`` (the dataset folder or a promoted model), or
    None when it cannot be read."""
    try:
        return Production.parse((folder / POINTER_JSON).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        return None


def _record_inside(folder: Path, target: Path) -> Production | None:
    record = _record_in(folder)
    return record if record is not None and Path(record.path) == target else None


def _rebuilt_record(folder: Path, target: Path, when: str) -> Production:
    """A record for a model whose promotion record is lost: what its own metrics say."""
    accuracy: Any = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        accuracy = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["test"][
            "accuracy"]
    accuracy = float(accuracy) if isinstance(accuracy, int | float) else 0.0
    return Production(model=folder.name, path=target.as_posix(), source=str(folder),
                      promoted_at=when, reason=f"record rebuilt by `{REPAIR}`",
                      policy="repair", accuracy=accuracy, test_accuracy=accuracy or None,
                      scores={}, eval_sizes={}, previous=None, previous_accuracy=None)
