"""Run ``flows/mnist_flow.py`` as a user would, with one fault injected into one stage.

    python tests/hostile/run_flow.py [--stall=STAGE] [--enospc=STAGE] [--stall-write=preprocess]
                                     [flow options ...]

Every stage's core function is wrapped to print ``hostile: STAGE called`` when it starts (a
stage that comes from cache prints nothing). ``--stall=STAGE`` then prints ``hostile: STAGE
stalled`` and sleeps, as a long stage would, so a test can send SIGINT right there.
``--enospc=preprocess|export`` makes that stage's file writes fail with ``ENOSPC`` (disk full)
after part of the bytes. ``--stall-write=preprocess`` writes part of the first Parquet file,
prints ``hostile: preprocess writing`` and sleeps, so a test can SIGKILL the run mid-write.
The task code, hence every cache key, is unchanged.
"""

from __future__ import annotations

import errno
import functools
import importlib
import runpy
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
STALL_SECONDS = 300.0

# stage -> (module the task takes it from, name of the core function that task calls). Most
# tasks import their core module when they run, so the function is wrapped where it lives.
STAGE_CALLS = {
    "download": ("tasks.stages.download", "fetch_dataset"),
    "preprocess": ("tasks.core.datasets", "preprocess_splits"),
    "intake": ("tasks.core.intake", "run_intake"),
    "validate": ("tasks.core.validate_intake", "validate_intake"),
    "train": ("tasks.core.train", "train_network"),
    "evaluate": ("tasks.core.metrics", "evaluate"),
    "export": ("tasks.core.export", "write_weights_csv"),
    "promote": ("tasks.core.promotion", "gate"),
}


def _wrap(stage: str, fn: Callable[..., Any], stall: bool) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        print(f"hostile: {stage} called", flush=True)
        if stall:
            print(f"hostile: {stage} stalled", flush=True)
            time.sleep(STALL_SECONDS)
        return fn(*args, **kwargs)

    return wrapper


def _disk_full(path: Path) -> None:
    Path(path).write_bytes(b"PAR1 half a file")  # a partial write, then the disk is full
    raise OSError(errno.ENOSPC, "No space left on device")


def _inject_enospc(stage: str) -> None:
    from tasks.engine import atomic

    if stage == "preprocess":
        from tasks.core import datasets

        def full_parquet(destination: Path, data: Any) -> None:
            with atomic.atomic_path(destination) as tmp:  # write_split's one write
                _disk_full(tmp)

        datasets.write_bytes_atomic = full_parquet
    elif stage == "export":
        from tasks.core import export

        real = export.write_text_atomic

        def full_text(destination: Path, text: str) -> None:
            if Path(destination).name == "history.csv":  # the train stage's file
                return real(destination, text)
            with atomic.atomic_path(destination) as tmp:
                _disk_full(tmp)

        export.write_text_atomic = full_text
    else:
        raise SystemExit(f"--enospc supports preprocess and export, not {stage}")


def _stall_mid_parquet_write() -> None:
    from tasks.core import datasets
    from tasks.engine import atomic

    def half_then_stall(destination: Path, data: Any) -> None:
        with atomic.atomic_path(destination) as tmp, open(tmp, "wb") as stream:
            stream.write(bytes(memoryview(data)[:1 << 20]))  # the first MiB of the file
            stream.flush()
            print("hostile: preprocess writing", flush=True)
            time.sleep(STALL_SECONDS)

    datasets.write_bytes_atomic = half_then_stall


FAULTS = ("--stall=", "--enospc=", "--stall-write=")


def main() -> None:
    # A user's Ctrl-C reaches a foreground process, whose SIGINT is never ignored. A test run
    # from a background job (`pytest ... &`, some CI runners) inherits SIGINT ignored, which
    # Python keeps: every SIGINT the test sends would be lost. That, not the product, made
    # test_sigint_in_every_stage_then_resume fail "during download" (its first stage).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    options = {arg.split("=")[0]: arg.split("=")[1] for arg in sys.argv[1:]
               if arg.startswith(FAULTS)}
    argv = [arg for arg in sys.argv[1:] if not arg.startswith(FAULTS)]
    sys.path.insert(0, str(REPO_ROOT))
    for stage, (module_name, name) in STAGE_CALLS.items():
        module = importlib.import_module(module_name)
        setattr(module, name, _wrap(stage, getattr(module, name),
                                    stage == options.get("--stall")))
    if "--enospc" in options:
        _inject_enospc(options["--enospc"])
    if options.get("--stall-write") == "preprocess":
        _stall_mid_parquet_write()
    sys.argv = [str(REPO_ROOT / "flows" / "mnist_flow.py"), *argv]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
