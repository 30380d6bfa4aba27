"""What the default run imports: heavy libraries load only in the stage that needs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_flow_loads_no_plotting_pandas_or_images() -> None:
    """A fully cached run never draws: matplotlib (and PIL, under it) load with the first
    figure, pandas never on the default path (bench/profile_run.py measures the seconds)."""
    script = ("import sys, flows.mnist_flow; "
              "print(sorted(m for m in ('matplotlib', 'pandas', 'PIL') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=True)
    assert done.stdout.strip() == "[]", done.stdout
