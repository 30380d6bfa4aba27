"""The real ``mnist-flow`` against an intake folder holding what users really drop there: a
name that is not UTF-8, a DDS file named ``.png``, a blank page. Each is a rejection named in
the log and the manifest; ``explain`` and ``run`` exit 0 with no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.hostile.test_fuzz_images import _dds_header_only, _good_png

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
ODD_NAME = b"bad\xff\xfe.png"


def _mnist_flow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(CONSOLE_SCRIPT), *args], env=env, text=True,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done


def _write_odd(incoming: Path, content: bytes) -> None:
    descriptor = os.open(os.fsencode(incoming / "3") + b"/" + ODD_NAME,
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(descriptor, content)
    os.close(descriptor)


@pytest.fixture()
def incoming(tmp_path: Path) -> Path:
    root = tmp_path / "incoming"
    (root / "3").mkdir(parents=True)
    _write_odd(root, _good_png())
    (root / "3" / "scan.png").write_bytes(_dds_header_only())
    Image.new("L", (300, 200), 255).save(root / "3" / "blank.png")
    return root


def test_explain_and_run_reject_odd_files_by_name(incoming: Path, tmp_path: Path,
                                                  mnist_mirror: Path,
                                                  prefect_api_url: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "PYTHONUNBUFFERED": "1"}
    common = ("--artifacts-dir", str(tmp_path / "artifacts"), "--mirror", str(mnist_mirror),
              "--incoming", str(incoming))
    explained = _mnist_flow("explain", *common, env=env).stdout
    assert "intake     would run" in explained
    run = _mnist_flow("run", *common, "--steps", "20", env=env)
    log = run.stdout + run.stderr
    assert "intake rejected 3/bad\\xff\\xfe.png: its name is not valid UTF-8" in log
    assert "intake rejected 3/scan.png: not a usable image" in log
    assert "NotImplementedError" in log
    assert "intake rejected 3/blank.png: no digit found" in log
    [manifest] = (tmp_path / "artifacts" / "mnist" / "intake").glob("*/manifest.json")
    rejected = {item["path"]: item["reason"] for item in json.loads(manifest.read_text())[
        "rejected"]}
    assert set(rejected) == {"3/bad\\xff\\xfe.png", "3/scan.png", "3/blank.png"}
    again = _mnist_flow("explain", *common, env=env).stdout
    assert "intake     cached" in again
    _write_odd(incoming, _good_png() + b"\0")  # new content under the same odd name
    assert "intake     would run" in _mnist_flow("explain", *common, env=env).stdout
