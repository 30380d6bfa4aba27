"""A flow in which the promotion gate rejects a worse model and the event helper reports it.

    python tests/integration/emit_rejection.py ROOT

Two untrained networks and labels that one of them predicts perfectly: the perfect one is
promoted first, the other is then rejected by the real gate, and ``emit_promotion_event``
emits ``mnist-flow.model.rejected`` from inside the flow run, as the promote stage does.
An intake of a folder holding a file in class folder ``eleven`` and a text file then emits
``mnist-flow.incoming.rejected-files``. Prints the two events' ids, one a line.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from prefect import flow

from tasks.core.export import write_weights_csv
from tasks.core.intake import run_intake
from tasks.core.network import init_params, predict
from tasks.core.promotion import gate
from tasks.core.registry import MNIST
from tasks.events import emit_promotion_event, emit_rejected_files_event


@flow(name="mnist-flow-rejection-check")
def rejection(root: Path) -> list[str]:
    good, bad = (init_params(20, np.random.default_rng(seed), scale=1.0, dtype=np.float32)
                 for seed in (1, 2))
    X = np.random.default_rng(0).standard_normal((500, 784)).astype(np.float32)
    sets = {"test": (X, predict(good, X).astype(np.uint8))}
    folders = {"good": root / "models" / "600d00000001", "bad": root / "models" / "bad000000002"}
    write_weights_csv(good, folders["good"])
    write_weights_csv(bad, folders["bad"])
    assert gate(root / "mnist", folders["good"], sets, dataset="mnist").promoted
    record = gate(root / "mnist", folders["bad"], sets, dataset="mnist")
    assert record.outcome == "rejected", record
    rejected = emit_promotion_event(record)
    for folder, name in (("eleven", "x.png"), ("3", "notes.txt")):
        (root / "incoming" / folder).mkdir(parents=True)
        (root / "incoming" / folder / name).write_text("not a digit")
    dropped = emit_rejected_files_event("mnist", run_intake(root / "incoming", root / "intake",
                                                            MNIST.class_names))
    assert rejected is not None and dropped is not None
    return [str(rejected.id), str(dropped.id)]


if __name__ == "__main__":
    print("\n".join(rejection(Path(sys.argv[1]))))
