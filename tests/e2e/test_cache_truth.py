"""The cache never serves a stale result: code edits on a copy of the repository, tampered
outputs, a moved artifacts folder, and a summary that says what really happened."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.cli import subcommand_parser
from flows.mnist_flow import explain_run as explain
from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tasks.pipeline import MAIN, stage_names
from tests.e2e.conftest import QUICK_TRAIN, REPO_ROOT, statuses, with_changes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

ALL_CACHED = dict.fromkeys(stage_names(), "cached")


def _copy_repository(destination: Path) -> Path:
    for package in ("tasks", "flows"):
        shutil.copytree(REPO_ROOT / package, destination / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def _run_copy(repo: Path, artifacts: Path, mirror: Path) -> tuple[dict[str, str], str]:
    """Run the copy's CLI; return ``{stage: status}`` and the whole output."""
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1",
           "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run(
        [sys.executable, str(repo / "flows" / "mnist_flow.py"), "--steps",
         str(QUICK_TRAIN["steps"]), "--mirror", str(mirror), "--artifacts-dir", str(artifacts)],
        env=env, capture_output=True, text=True, timeout=600, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    found = {}
    for line in done.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in stage_names():
            found[words[0]] = words[1]
    return found, done.stdout


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_editing_a_helper_reruns_its_stage_and_the_later_ones_only(
        tmp_path: Path, mnist_mirror: Path) -> None:
    repo = _copy_repository(tmp_path / "repo")
    artifacts = tmp_path / "artifacts"
    first, _ = _run_copy(repo, artifacts, mnist_mirror)
    assert set(first.values()) == {"ran"}

    _edit(repo / "tasks" / "splits.py", "    path, sha256 = data.path(split)",
          "    assert split in data.outputs, split\n    path, sha256 = data.path(split)")
    after_split, output = _run_copy(repo, artifacts, mnist_mirror)
    assert after_split == {"download": "cached", "preprocess": "cached", "intake": "cached",
                           "validate": "ran", "train": "ran", "evaluate": "ran",
                           "export": "ran", "promote": "ran"}
    assert "Nothing changed" not in output
    assert re.search(r"Reran validate, train\b[^(;]*\(code changed in tasks\.splits\)", output)

    _edit(repo / "tasks" / "stages" / "export.py", '"updates": model.info["steps"]',
          '"updates (steps)": model.info["steps"]')
    after_summary, output = _run_copy(repo, artifacts, mnist_mirror)
    assert after_summary == {**ALL_CACHED, "export": "ran"}  # same weights: no new decision
    assert re.search(r"Reran export\b[^(;]*\(code changed in tasks\.stages\.export\)", output)

    _edit(repo / "tasks" / "stages" / "train.py", "[:12]", "[:14]")
    after_model_dir, _ = _run_copy(repo, artifacts, mnist_mirror)
    assert after_model_dir == {"download": "cached", "preprocess": "cached",
                               "intake": "cached", "validate": "cached", "train": "ran",
                               "evaluate": "ran",
                               "export": "ran", "promote": "ran"}

    _edit(repo / "tasks" / "core" / "sweep_plots.py", "\n\n", "\n\n# a comment, nothing else\n")
    unchanged, output = _run_copy(repo, artifacts, mnist_mirror)
    assert unchanged == ALL_CACHED
    assert "Nothing changed since run" in output


def test_a_moved_artifacts_folder_stays_cached(quick_config: FlowConfig) -> None:
    first = mnist_flow(quick_config)
    moved = quick_config.artifacts_dir.with_name("moved")
    quick_config.artifacts_dir.rename(moved)
    again = mnist_flow(with_changes(quick_config, artifacts_dir=moved))
    assert statuses(again) == ALL_CACHED
    assert again["test_accuracy"] == first["test_accuracy"]
    assert Path(again["model_dir"]).is_relative_to(moved.resolve())
    copied = moved.with_name("restored")  # new inodes and mtimes: re-hashed once, then trusted
    shutil.copytree(moved, copied, symlinks=True)
    restored = with_changes(quick_config, artifacts_dir=copied)
    assert statuses(mnist_flow(restored)) == ALL_CACHED
    train = next(v for v in explain(restored) if v.stage == "train")
    assert train.manifest is not None and train.manifest.restat() is None


def _forge_same_size(victim: Path) -> None:
    """Change one byte in place and put the mtime back: only a full re-hash can tell."""
    stat = victim.stat()
    with open(victim, "r+b") as stream:
        stream.seek(stat.st_size // 2)
        byte = stream.read(1)
        stream.seek(stat.st_size // 2)
        stream.write(bytes([byte[0] ^ 0xFF]))
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_stat_check_catches_an_edit_and_verify_full_catches_a_forgery(
        quick_config: FlowConfig) -> None:
    first = mnist_flow(quick_config)
    history = Path(first["model_dir"]) / "history.csv"
    history.write_text(history.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    edited = mnist_flow(quick_config)
    assert statuses(edited)["train"] == "ran"
    _forge_same_size(Path(first["model_dir"]) / "W_2.csv")
    assert statuses(mnist_flow(quick_config)) == ALL_CACHED  # stat alone cannot see it
    full = with_changes(quick_config, verify="full")
    verdicts = {v.stage: v for v in explain(full)}
    assert verdicts["export"].runs and "sha256 differs" in verdicts["export"].reason
    assert "checked by sha256 of every output" in verdicts["train"].reason
    assert statuses(mnist_flow(full)) == {**ALL_CACHED, "export": "ran"}


def test_the_flow_the_explanation_and_force_follow_the_stage_table(
        quick_config: FlowConfig) -> None:
    result = mnist_flow(quick_config)
    assert [s["name"] for s in result["stages"]] == list(stage_names())
    assert [v.stage for v in explain(quick_config)] == list(stage_names())
    force = next(a for a in subcommand_parser("run")._actions if a.dest == "force")
    assert tuple(force.choices) == stage_names()
    records = quick_config.artifacts_dir.resolve() / "mnist" / ".cache" / "records"
    from tasks.engine.cache import CacheStore

    store = CacheStore(quick_config.artifacts_dir.resolve(), "mnist")
    for stage in (s for s in MAIN if s.cached):
        (record,) = [p.name for p in records.glob(f"{stage.name}-*")]
        manifest, problem = store.read(record)
        assert problem is None and manifest is not None
        assert set(manifest.outputs) == set(stage.outputs), stage.name
