"""bench/profile_run.py's arithmetic: import times parsed, every second of a run accounted."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "profile_run.py"


@pytest.fixture(scope="module")
def profile_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("profile_run", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_seconds_take_each_package_at_its_first_import(profile_run: ModuleType) -> None:
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       120 |        300 |     numpy.core",
        "import time:      1000 |     250000 |   numpy",
        "import time:      2000 |    1500000 | prefect",
        "import time:         5 |          5 | numpy",  # already loaded: not the first
    ])
    assert profile_run.import_seconds(stderr) == {"numpy.core": 0.0003, "numpy": 0.25,
                                                  "prefect": 1.5}


def test_the_rows_of_a_stage_add_up_to_its_wall_time(profile_run: ModuleType) -> None:
    run = {"wall": 10.0, "cpu": 8.0, "process_start": 0.0, "flow_started": 2.0,
           "flow_done": 9.0, "process_end": 10.0, "imports": {"prefect": 1.5},
           "stage_wall": {"train": 3.0, "export": 1.0},
           "seconds": {"train": {"compute": 2.5, "cache key (ours)": 0.1},
                       "export": {"plotting": 0.75}}}
    rows = {key: seconds for key, _, seconds in profile_run.table_rows(run)}
    assert rows["startup"] == 2.0 and rows["exit"] == 1.0
    assert rows["flow"] == pytest.approx(7.0 - 4.0)  # the flow's time outside its stages
    assert rows["train/rest"] == pytest.approx(0.4)  # Prefect's part of the stage
    assert rows["export/rest"] == pytest.approx(0.25)
    assert rows["import/prefect"] == 1.5 and rows["import/pandas"] == 0.0


def test_the_floor_script_has_one_task_per_stage_plus_publish() -> None:
    # profile_run and bench_flow time the same floor; a template written out unformatted
    # (a NameError in the empty flow) once broke profile_run.
    import sys

    sys.path.insert(0, str(BENCH.parent))
    from bench_flow import empty_flow

    from tasks.pipeline import MAIN

    script = empty_flow()
    compile(script, "empty.py", "exec")
    assert f"range({len(MAIN)})" in script
    assert "{" not in script
