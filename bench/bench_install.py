"""Size of the default install against the install with the ``[dask]`` extra.

    python bench/bench_install.py

``pip install --dry-run --ignore-installed --report`` resolves each install set (no download
when pip's cache is warm), and each package's installed size is the sum of the file sizes in
its wheel RECORD, read from this environment (which must hold ``.[dask]``, as ``.[test]``
does). ``.[dask]`` is exactly the default install before ``prefect-dask`` became an extra.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def resolve(target: str) -> list[str]:
    """The distributions ``pip install target`` would install (the project itself excluded)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
                        "--ignore-installed", "--report", str(report), target], check=True,
                       capture_output=True, cwd=REPO)
        install = json.loads(report.read_text())["install"]
    return sorted(item["metadata"]["name"] for item in install
                  if item["metadata"]["name"] != "mnist-flow")


def installed_mb(names: list[str]) -> float:
    return sum(file.size or 0 for name in names
               for file in metadata.distribution(name).files or []) / 1e6


def main() -> None:
    default, with_dask = resolve("."), resolve(".[dask]")
    print(f"{'install':<28} {'packages':>8} {'MB':>8}")
    for label, names in (("pip install .", default), ("pip install '.[dask]'", with_dask)):
        print(f"{label:<28} {len(names):8d} {installed_mb(names):8.1f}")
    extra = sorted(set(with_dask) - set(default))
    print(f"\nthe [dask] extra adds {len(extra)} packages, "
          f"{installed_mb(extra):.1f} MB: {', '.join(extra)}")


if __name__ == "__main__":
    main()
