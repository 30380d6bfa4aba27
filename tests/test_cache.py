"""The cache policy's parts: what the key covers, and how a hit is checked."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from tasks.cache import CacheStore, file_entry, output_problems
from tasks.cache_key import code_digest, key_components, stage_key, to_jsonable
from tasks.core.train_config import get_preset
from tasks.explain import describe_change


@pytest.fixture
def fake_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway ``tasks.core`` module, importable, whose source a test can edit."""
    import tasks.core

    package = tmp_path / "tasks" / "core"
    package.mkdir(parents=True)
    monkeypatch.setattr(tasks.core, "__path__", [*tasks.core.__path__, str(package)])
    (package / "zz_helper.py").write_text("def helper():\n    return 1\n")
    (package / "zz_stage.py").write_text(textwrap.dedent("""
        from tasks.core.zz_helper import helper

        def stage_fn():
            return helper()
    """))
    # A task-layer helper between a task and the pure code, behind a cache wrapper.
    import tasks

    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(package.parent)])
    (package.parent / "zz_glue.py").write_text(textwrap.dedent("""
        from functools import lru_cache

        from tasks.core.zz_helper import helper

        @lru_cache
        def cached_helper():
            return helper()

        def task_fn():
            return cached_helper()
    """))
    yield package
    for name in ("tasks.core.zz_stage", "tasks.core.zz_helper", "tasks.zz_glue"):
        sys.modules.pop(name, None)
    code_digest.cache_clear()


def test_code_digest_follows_the_modules_a_function_reaches(fake_project: Path) -> None:
    from tasks.core.zz_stage import stage_fn

    digest, modules = code_digest(stage_fn)
    assert modules == ("tasks.core.zz_helper",)
    (fake_project / "zz_helper.py").write_text("def helper():\n    return 2\n")
    code_digest.cache_clear()
    edited, _ = code_digest(stage_fn)
    assert edited != digest


def test_code_digest_follows_project_helpers_to_the_pure_code(fake_project: Path) -> None:
    from tasks.zz_glue import task_fn

    _, modules = code_digest(task_fn)
    assert modules == ("tasks.core.zz_helper",)


def test_the_key_changes_with_parameters_and_not_with_excluded_inputs() -> None:
    def stage(a: int, mirror: str) -> None:
        del a, mirror

    def key(**inputs: object) -> str:
        return stage_key("s", stage, inputs, ("mirror",))[0]

    base = key(a=1, mirror="x", cache_root="/c")
    other_mirror = key(a=1, mirror="y", cache_root="/d")
    other_value = key(a=2, mirror="x", cache_root="/c")
    assert base == other_mirror
    assert base != other_value


def test_provenance_of_an_upstream_manifest_is_not_part_of_the_key() -> None:
    def stage(data: dict) -> None:
        del data

    manifest = {"outputs": {"a": {"path": "/a", "sha256": "1", "bytes": 1}}}
    one, _ = stage_key("s", stage, {"data": {**manifest, "provenance": {"flow_run": "x"}}})
    two, _ = stage_key("s", stage, {"data": {**manifest, "provenance": {"flow_run": "y"}}})
    changed, _ = stage_key("s", stage, {"data": {"outputs": {"a": {**manifest["outputs"]["a"],
                                                                    "sha256": "2"}}}})
    assert one == two != changed


def test_to_jsonable_handles_configs_and_paths() -> None:
    value = to_jsonable({"config": get_preset("original"), "where": Path("/x"), "n": (1, 2)})
    assert value["where"] == "/x" and value["n"] == [1, 2]
    assert value["config"]["lr"] == 0.01
    with pytest.raises(TypeError, match="not JSON-able"):
        to_jsonable(object())


def test_output_problems_finds_missing_and_altered_files(tmp_path: Path) -> None:
    kept, altered, gone = (tmp_path / n for n in ("kept.csv", "altered.csv", "gone.csv"))
    for path in (kept, altered, gone):
        path.write_text("1,2,3\n")
    manifest = {"outputs": {p.name: file_entry(p) for p in (kept, altered, gone)}}
    assert output_problems(manifest) == []
    altered.write_text("1,2,4\n")  # same size, other bytes
    gone.unlink()
    assert output_problems(manifest) == ["output `altered.csv` altered (sha256 differs from "
                                         "its manifest)", "output `gone.csv` missing"]


def test_a_store_without_manifest_cannot_serve_a_hit(tmp_path: Path) -> None:
    store = CacheStore(tmp_path)
    assert store.hit_problems("k") == ["no completed run with these inputs, parameters and code"]
    output = tmp_path / "out.bin"
    output.write_bytes(b"x")
    store.write_manifest("k", {"outputs": {"out": file_entry(output)}})
    assert store.hit_problems("k") == []
    assert json.loads(store.manifest_path("k").read_text())["outputs"]["out"]["bytes"] == 1


def test_describe_change_names_parameters_inputs_and_code() -> None:
    def stage(config: dict, data: dict) -> None:
        del config, data

    old = key_components("train", stage, {"config": {"lr": 0.01}, "data": {"outputs": {
        "train": {"sha256": "a"}}}})
    new = {**old, "parameters": {"config": {"lr": 0.05}, "data": {"outputs": {
        "train": {"sha256": "b"}}}}, "code": "other"}
    text = describe_change(old, new)
    assert "parameter `config.lr` changed 0.01 → 0.05" in text
    assert "input `train` content changed" in text
    assert "code changed" in text
    assert describe_change(None, new) == "never ran in this artifacts directory"
