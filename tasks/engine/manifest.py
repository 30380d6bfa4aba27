"""A stage's manifest: what it wrote, what it found, which run made it. No Prefect here.

Every output is recorded with its path *relative to the artifacts folder*, its sha256, and its
size, ``mtime_ns`` and inode (as DVC's ``dvc.lock`` and state database do). A later run trusts
an output whose stat is unchanged and re-hashes only the others; ``verify="full"`` re-hashes
all. Because paths are relative, a moved or restored artifacts folder keeps its cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tasks.engine.atomic import sha256_file

Verify = Literal["stat", "full"]


@dataclass(frozen=True)
class Output:
    """One file a stage wrote: where (relative to the artifacts folder) and what it held."""

    path: str
    sha256: str
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, file: Path, root: Path, sha256: str | None = None) -> Output:
        """Describe ``file`` (under ``root``); hash it unless the writer already knows its
        ``sha256`` (a writer that hashed while writing saves a second read)."""
        stat = file.stat()  # before hashing: a write racing the hash then shows as a change
        return cls(path=file.resolve().relative_to(root.resolve()).as_posix(),
                   sha256=sha256 or sha256_file(file), size=stat.st_size,
                   mtime_ns=stat.st_mtime_ns, inode=stat.st_ino)

    def problem(self, root: Path, verify: Verify) -> str | None:
        """Why this output can no longer be trusted, or None when it is intact."""
        file, name = root / self.path, Path(self.path).name
        try:
            stat = file.stat()
        except OSError:
            return f"output `{name}` missing"
        if not file.is_file():
            return f"output `{name}` missing"
        if stat.st_size != self.size:
            return f"output `{name}` altered (size {stat.st_size} B, recorded {self.size} B)"
        if verify == "stat" and (stat.st_mtime_ns, stat.st_ino) == (self.mtime_ns, self.inode):
            return None
        if sha256_file(file) != self.sha256:
            return f"output `{name}` altered (sha256 differs from its manifest)"
        return None


@dataclass(frozen=True)
class Provenance:
    """Which flow run made the outputs, when, and how long the work took (never in a key)."""

    flow_run: str = ""
    finished: str = ""
    seconds: float | None = None


@dataclass(frozen=True)
class Manifest:
    """What one run of a stage produced. ``root`` is where the artifacts folder is *now*; it
    is not stored, so the same record serves the folder wherever it moves."""

    stage: str
    dataset: str
    outputs: Mapping[str, Output]
    info: Mapping[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    key: Mapping[str, Any] = field(default_factory=dict)  # what the run's cache key covered
    root: Path = Path(".")

    def path(self, name: str) -> Path:
        """Absolute path of output ``name``."""
        return self.root / self.outputs[name].path

    def paths(self) -> dict[str, Path]:
        return {name: self.path(name) for name in self.outputs}

    def sha256(self, name: str) -> str:
        return self.outputs[name].sha256

    def digests(self) -> dict[str, str]:
        return {name: output.sha256 for name, output in self.outputs.items()}

    def problems(self, verify: Verify = "stat") -> list[str]:
        """Why the outputs can no longer be trusted (empty when all are intact)."""
        found = (output.problem(self.root, verify) for output in self.outputs.values())
        return [problem for problem in found if problem]

    def restat(self) -> Manifest | None:
        """This manifest with each output's current mtime and inode, or None if none changed.

        Only for outputs just verified (a changed stat was re-hashed and matched): recording
        the new stat spares the next run that hash, as DVC's state database does.
        """
        outputs = {}
        for name, output in self.outputs.items():
            stat = (self.root / output.path).stat()
            outputs[name] = dataclasses.replace(output, mtime_ns=stat.st_mtime_ns,
                                                inode=stat.st_ino)
        return dataclasses.replace(self, outputs=outputs) if outputs != self.outputs else None

    def key_view(self) -> dict[str, Any]:
        """What a downstream stage's key sees: the dataset, each output's relative path and
        sha256. Not the stat (a copy changes it), not the provenance (a rerun that reproduces
        the same bytes leaves downstream stages cached), not ``info`` (derived from the bytes)."""
        return {"dataset": self.dataset, "outputs": {
            name: {"path": o.path, "sha256": o.sha256} for name, o in self.outputs.items()}}

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON (what Prefect stores as the task's result)."""
        data = dataclasses.asdict(self)
        del data["root"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], root: Path) -> Manifest:
        """The manifest a record holds, resolved against the artifacts folder ``root``.

        Raises KeyError, TypeError or ValueError if ``data`` is not a manifest.
        """
        return cls(stage=str(data["stage"]), dataset=str(data["dataset"]),
                   outputs={str(k): Output(**v) for k, v in data["outputs"].items()},
                   info=dict(data["info"]), provenance=Provenance(**data["provenance"]),
                   key=dict(data["key"]), root=Path(root))
