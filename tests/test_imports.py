"""What the default run imports: heavy libraries load only in the stage that needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _python_output(script: str) -> str:
    """What ``python -c script`` prints in a fresh interpreter at the repository root."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_flow_loads_no_compute_library() -> None:
    """A fully cached run never computes: numpy and pyarrow load in the task that needs them,
    matplotlib (and PIL, under it) with the first figure, pandas never on the default path
    (bench/profile_run.py measures the seconds; tests/e2e/test_console_script.py runs one)."""
    script = ("import sys, flows.cli, flows.mnist_flow; print(sorted(m for m in "
              "('numpy', 'pyarrow', 'matplotlib', 'pandas', 'PIL') if m in sys.modules))")
    assert _python_output(script) == "[]"


def test_the_names_the_stage_table_spells_out_are_the_modules_constants() -> None:
    """The export stage and tasks.ledger name what they would otherwise import with numpy."""
    from tasks.core.network import PARAM_NAMES
    from tasks.core.plots import PLOT_NAMES
    from tasks.core.train import train_network
    from tasks.ledger import TRAINING_MODULE
    from tasks.stages.export import export

    assert export.outputs == (*PARAM_NAMES, *PLOT_NAMES, "report.md")
    assert train_network.__module__ == TRAINING_MODULE


def test_computing_every_stage_key_imports_no_project_module_or_heavy_library() -> None:
    """The code key follows imports by reading sources: learning that `read_grayscale` is a
    function, not a module, must not import `tasks.core.images` (and Pillow) in a cached run."""
    script = ("import sys, flows.mnist_flow\n"
              "from tasks.engine.cache_key import code_digest\n"
              "from tasks.pipeline import MAIN\n"
              "before = set(sys.modules)\n"
              "for stage in MAIN:\n"
              "    code_digest(stage.task.fn)\n"
              "print(sorted(set(sys.modules) - before))")
    assert _python_output(script) == "[]"


def test_the_flow_records_its_config_as_prefect_would_without_importing_fastapi() -> None:
    """The dashboard shows the same parameters as Prefect's own encoder would give, and a run
    against a Prefect server does not import FastAPI (0.15 s) for it."""
    script = ("import sys, json, flows.mnist_flow\n"
              "from pathlib import Path\n"
              "from prefect import Flow\n"
              "from tasks.config import FlowConfig\n"
              "config = FlowConfig.model_validate({'preset': 'fast', 'artifacts_dir': Path('a'),\n"
              "    'force': 'train', 'data': {'mirror': '/m'}})\n"
              "ours = flows.mnist_flow.mnist_flow.serialize_parameters({'config': config})\n"
              "imported = 'fastapi' in sys.modules\n"
              "flow = flows.mnist_flow.mnist_flow\n"
              "prefects = Flow.serialize_parameters(flow, {'config': config})\n"
              "print(json.dumps([imported, ours == prefects, ours['config']['preset']]))")
    assert _python_output(script) == '[false, true, "fast"]'
