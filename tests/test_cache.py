"""The cache's parts: what the key covers, what a manifest records, and how a hit is checked."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.core.train_config import get_preset
from tasks.engine.cache import CacheStore, judge
from tasks.engine.cache_key import (
    clear_code_cache,
    code_digest,
    describe_change,
    stage_key,
    to_jsonable,
)
from tasks.engine.manifest import Manifest, Output


@pytest.fixture
def fake_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Throwaway ``tasks.core`` and ``tasks`` modules, importable, whose source a test edits."""
    import tasks
    import tasks.core

    package = tmp_path / "tasks" / "core"
    package.mkdir(parents=True)
    monkeypatch.setattr(tasks.core, "__path__", [*tasks.core.__path__, str(package)])
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(package.parent)])
    (package / "zz_helper.py").write_text("def helper():\n    return 1\n")
    (package / "zz_unrelated.py").write_text("def other():\n    return 3\n")
    # A task-layer helper between a task and the pure code, behind a cache wrapper.
    (package.parent / "zz_glue.py").write_text(textwrap.dedent("""
        from functools import lru_cache

        from tasks.core.zz_helper import helper

        @lru_cache
        def cached_helper():
            return helper()
    """))
    (package.parent / "zz_task.py").write_text(textwrap.dedent("""
        def task_fn():
            from tasks.zz_glue import cached_helper  # a lazy import is followed too

            return cached_helper()
    """))
    clear_code_cache()
    yield package
    for name in ("tasks.core.zz_helper", "tasks.core.zz_unrelated", "tasks.zz_glue",
                 "tasks.zz_task"):
        sys.modules.pop(name, None)
    clear_code_cache()


def _digest_after(edit: Path, text: str) -> str:
    from tasks.zz_task import task_fn

    edit.write_text(text)
    clear_code_cache()
    return code_digest(task_fn)[0]


def test_the_code_key_covers_every_module_the_task_can_reach(fake_project: Path) -> None:
    from tasks.zz_task import task_fn

    digest, modules = code_digest(task_fn)
    assert {"tasks.zz_task", "tasks.zz_glue", "tasks.core.zz_helper"} <= {m for m, _ in modules}
    assert "tasks.core.zz_unrelated" not in dict(modules)
    glue = fake_project.parent / "zz_glue.py"
    # The task-layer helper's own source counts, not only the pure modules behind it.
    edited = _digest_after(glue, glue.read_text().replace("return helper()",
                                                          "return helper() + 1"))
    assert edited != digest
    helper = fake_project / "zz_helper.py"
    assert _digest_after(helper, "def helper():\n    return 2\n") != edited


def test_an_edit_of_a_module_the_task_cannot_reach_leaves_the_code_key_alone(
        fake_project: Path) -> None:
    from tasks.zz_task import task_fn

    digest = code_digest(task_fn)[0]
    assert _digest_after(fake_project / "zz_unrelated.py", "def other():\n    return 4\n") \
        == digest
    # Within reach, even a comment counts: slightly too much, never too little.
    assert _digest_after(fake_project / "zz_helper.py",
                         "def helper():  # why\n    return 1\n") != digest


def test_imports_are_found_in_every_form(fake_project: Path) -> None:
    from tasks.engine.cache_key import project_closure

    (fake_project.parent / "zz_forms.py").write_text(textwrap.dedent("""
        import tasks.core.zz_helper as helper_module
        from tasks.core import (
            zz_unrelated,
        )
    """))
    assert {"tasks.core.zz_helper", "tasks.core.zz_unrelated"} <= set(
        project_closure({"tasks.zz_forms"}))
    sys.modules.pop("tasks.zz_forms", None)


def test_the_key_changes_with_parameters_and_not_with_excluded_inputs() -> None:
    def stage(a: int, mirror: str) -> None:
        del a, mirror

    def key(**inputs: object) -> str:
        return stage_key("s", stage, inputs, exclude=("mirror",))[0]

    assert key(a=1, mirror="x") == key(a=1, mirror="y") != key(a=2, mirror="x")


def test_paths_in_the_key_are_relative_to_the_artifacts_folder(tmp_path: Path) -> None:
    def stage(out_dir: Path) -> None:
        del out_dir

    one = stage_key("s", stage, {"out_dir": tmp_path / "a" / "mnist"}, root=tmp_path / "a")
    moved = stage_key("s", stage, {"out_dir": tmp_path / "b" / "mnist"}, root=tmp_path / "b")
    assert one == moved
    assert one[1]["parameters"]["out_dir"] == "<artifacts>/mnist"


def test_the_intake_keys_on_its_folder_content_not_its_path(tmp_path: Path) -> None:
    from tasks.config import FlowConfig
    from tasks.layout import Layout
    from tasks.stages.intake import intake

    layout = Layout(tmp_path / "artifacts", "mnist")

    def key(folder: Path) -> str:
        config = FlowConfig(retraining={"incoming": folder})
        return stage_key("intake", intake.task.fn, intake.parameters(config, layout),
                         exclude=intake.unkeyed, root=layout.root)[0]

    inbox = tmp_path / "inbox" / "3"
    inbox.mkdir(parents=True)
    (inbox / "a.png").write_bytes(b"1,2")
    before = key(inbox.parent)
    assert key(inbox.parent) == before
    copy = tmp_path / "copy"
    shutil.copytree(inbox.parent, copy)
    assert key(copy) == before  # another folder with the same files: the same key
    (inbox / "a.png").write_bytes(b"1,3")
    assert key(inbox.parent) != before


def _manifest(root: Path, **files: bytes) -> Manifest:
    for name, data in files.items():
        (root / name).write_bytes(data)
    return Manifest(stage="s", dataset="mnist", root=root,
                    outputs={name: Output.of(root / name, root) for name in files})


def test_only_paths_and_digests_of_a_manifest_enter_a_downstream_key(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, a=b"x")
    assert to_jsonable(manifest) == {"dataset": "mnist", "outputs": {
        "a": {"path": "a", "sha256": manifest.sha256("a")}}}
    assert to_jsonable({"config": get_preset("original")})["config"]["lr"] == 0.01
    with pytest.raises(TypeError, match="not JSON-able"):
        to_jsonable(object())


def test_stat_verification_catches_size_and_mtime_changes_full_catches_the_rest(
        tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, kept=b"1,2,3\n", grown=b"1,2,3\n", touched=b"1,2,3\n",
                         forged=b"1,2,3\n", gone=b"1,2,3\n")
    assert manifest.problems("stat") == manifest.problems("full") == []
    (tmp_path / "grown").write_bytes(b"1,2,3,4\n")
    (tmp_path / "touched").write_bytes(b"1,2,4\n")  # same size, new mtime
    forged = tmp_path / "forged"
    stat = forged.stat()
    with open(forged, "r+b") as stream:  # same size, same inode, mtime put back
        stream.write(b"9")
    os.utime(forged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (tmp_path / "gone").unlink()
    assert manifest.problems("stat") == [
        "output `grown` altered (size 8 B, recorded 6 B)",
        "output `touched` altered (sha256 differs from its manifest)",
        "output `gone` missing"]
    assert "output `forged` altered (sha256 differs from its manifest)" in (
        manifest.problems("full"))


def test_a_manifest_round_trips_through_json_relative_to_any_root(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, a=b"x")
    elsewhere = Manifest.from_json(json.loads(json.dumps(manifest.to_json())), Path("/moved"))
    assert elsewhere.path("a") == Path("/moved/a")
    assert elsewhere.key_view() == manifest.key_view()


def _write_record(store: CacheStore, key: str, result: str, serializer: dict) -> None:
    store.records.mkdir(parents=True, exist_ok=True)
    (store.records / key).write_text(json.dumps({"metadata": {"serializer": serializer},
                                                 "result": result}))


def test_a_record_must_be_plain_json_of_a_manifest(tmp_path: Path) -> None:
    from tasks.engine.cache import _JSON_SERIALIZER

    store = CacheStore(tmp_path, "mnist")
    manifest = _manifest(tmp_path, a=b"x")
    assert store.read("s-1") == (None, None)
    _write_record(store, "s-1", json.dumps(manifest.to_json()), _JSON_SERIALIZER)
    assert store.read("s-1") == (manifest, None)
    _write_record(store, "s-2", json.dumps(manifest.to_json()), {"type": "pickle"})
    _write_record(store, "s-3", '{"__class__": "os.system"}', _JSON_SERIALIZER)
    for key in ("s-2", "s-3"):
        assert store.read(key) == (None, "its Prefect record is not a plain JSON manifest")


def test_judge_names_the_reason_a_stage_runs(tmp_path: Path) -> None:
    from tasks.engine.cache import _JSON_SERIALIZER

    def stage(lr: float) -> None:
        del lr

    store = CacheStore(tmp_path, "mnist")
    first = judge(store, "s", stage, {"lr": 0.01})
    assert first.runs and first.reason == "never ran in this artifacts directory"
    key, components = stage_key("s", stage, {"lr": 0.01}, root=tmp_path)
    manifest = Manifest(**{**_manifest(tmp_path, a=b"x").__dict__, "key": components})
    _write_record(store, key, json.dumps(manifest.to_json()), _JSON_SERIALIZER)
    assert not judge(store, "s", stage, {"lr": 0.01}).runs
    assert judge(store, "s", stage, {"lr": 0.05}).reason == (
        "parameter `lr` changed 0.01 → 0.05")
    (tmp_path / "a").unlink()
    assert judge(store, "s", stage, {"lr": 0.01}).reason == "output `a` missing"


def test_describe_change_names_parameters_inputs_and_code_modules() -> None:
    old = {"parameters": {"config": {"lr": 0.01}, "data": {"outputs": {"train": {
        "sha256": "a"}}}}, "code": "1", "code_modules": {"tasks.model": "x", "tasks.data": "y"},
        "versions": {"numpy": "2"}}
    new = {**old, "parameters": {"config": {"lr": 0.05}, "data": {"outputs": {"train": {
        "sha256": "b"}}}}, "code": "2", "code_modules": {"tasks.model": "z", "tasks.data": "y"}}
    text = describe_change(old, new)
    assert "parameter `config.lr` changed 0.01 → 0.05" in text
    assert "input `train` content changed" in text
    assert "code changed in tasks.model" in text and "tasks.data" not in text
    assert describe_change(None, new) == "never ran in this artifacts directory"


def test_a_restored_output_is_rehashed_once_then_trusted_by_its_new_stat(tmp_path: Path) -> None:
    from tasks.engine.cache import _JSON_SERIALIZER

    manifest = _manifest(tmp_path, a=b"x")
    store = CacheStore(tmp_path, "mnist")
    _write_record(store, "s-1", json.dumps(manifest.to_json()), _JSON_SERIALIZER)
    shutil.copy2(tmp_path / "a", tmp_path / "restored")
    os.replace(tmp_path / "restored", tmp_path / "a")  # same bytes, another inode
    assert manifest.problems("stat") == []
    fresh = manifest.restat()
    assert fresh is not None and fresh.outputs["a"].inode == (tmp_path / "a").stat().st_ino
    store.update("s-1", fresh)
    assert store.read("s-1") == (fresh, None)
    assert fresh.restat() is None


def test_the_key_records_the_installed_library_versions() -> None:
    """Read from each library's metadata header, as importlib.metadata.version() reads it."""
    from importlib import metadata

    from tasks.engine.cache_key import VERSIONED_LIBRARIES, library_versions

    versions = library_versions()
    for name in VERSIONED_LIBRARIES:
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = "absent"
        assert versions[name] == expected, name
