"""The package layering of issue 20, read from the sources: who may import whom, no cycles, no
oversized modules, one stage per stage module.

Imports are found with :mod:`ast`, anywhere in a module (lazy ones inside functions and
``TYPE_CHECKING`` blocks included), so nothing here imports numpy or runs a flow; only the
stage checks at the end import the stage modules (and Prefect).

- ``tasks/engine`` is the generic engine: the standard library, Prefect, pydantic and itself;
  nothing about MNIST, datasets or networks.
- ``tasks/core`` is pure: no Prefect; it uses itself and the engine's pure modules (atomic
  writes, errors, pointers: those that reach no Prefect import).
- nothing under ``tasks/`` imports ``flows/``.
- no import cycle among project modules at import time.
"""

from __future__ import annotations

import ast
import importlib
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# the repository's own top-level packages: an import of one of these is a project import
PROJECT_PACKAGES = ("tasks", "flows", "bench", "tests")
# what the engine may import besides the standard library and itself
ENGINE_THIRD_PARTY = frozenset({"prefect", "pydantic"})
MAX_LINES = 300
# Modules over MAX_LINES, listed by hand so that none grows past it unnoticed: whether to split
# them is still to be decided (issue 20). An entry must still be over the limit (see the test).
OVER_MAX_LINES = frozenset({
    "tasks/core/plots.py",  # every figure of a run: curves, confusion, montages, dashboard
    "tasks/core/train.py",  # the training loop, its batching and early stopping
})
# the stage modules that declare no Stage, and why
NOT_A_STAGE = {"finish_sweep": "the sweep's uncached finishing task, run once per sweep"}
# the stage modules whose Stage is not in tasks.pipeline.MAIN: flows/sweep_flow.py runs it
NOT_IN_MAIN = frozenset({"sweep_point"})


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written and as resolved."""

    module: str  # the imported module: `from a.b import c` is a.b.c if that is a project module
    line: int
    lazy: bool  # inside a function or an `if TYPE_CHECKING:` block: not run at import time

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def project_modules() -> dict[str, Path]:
    """Every module of tasks/ and flows/, by dotted name."""
    return {module_name(path): path for package in ("tasks", "flows")
            for path in sorted((REPO_ROOT / package).rglob("*.py"))}


def is_package(name: str) -> bool:
    return project_modules()[name].name == "__init__.py"


def _resolve(name: str, node: ast.ImportFrom) -> str:
    """The absolute module of a `from … import`, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = name if is_package(name) else name.rpartition(".")[0]
    base = package.split(".")[:len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, True)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield from _walk(ast.Module(body=[statement], type_ignores=[]), True)
            for statement in child.orelse:
                yield from _walk(ast.Module(body=[statement], type_ignores=[]), lazy)
        else:
            yield from _walk(child, lazy)


@cache
def imports_of(name: str) -> tuple[Import, ...]:
    """What module ``name`` imports, anywhere in its body."""
    tree = ast.parse(project_modules()[name].read_text(encoding="utf-8"))
    found: list[Import] = []
    for node, lazy in _walk(tree, False):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, lazy) for alias in node.names]
            continue
        base = _resolve(name, node)
        if base == "__future__":
            continue
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            target = submodule if submodule in project_modules() else base
            found.append(Import(target, node.lineno, lazy))
    return tuple(found)


def is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_PACKAGES


def under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def modules_under(package: str) -> list[str]:
    return [name for name in project_modules() if under(name, package)]


def where(name: str, imported: Import) -> str:
    return f"{project_modules()[name].relative_to(REPO_ROOT)}:{imported.line} " \
           f"({name} imports {imported.module}{', lazily' if imported.lazy else ''})"


def test_the_sources_are_found_and_parsed() -> None:
    assert {"tasks.engine.cache", "tasks.engine.stage", "tasks.core.train", "tasks.pipeline",
            "tasks.stages.train", "flows.mnist_flow"} <= set(project_modules())
    assert any(i.module == "tasks.engine.stage" and not i.lazy
               for i in imports_of("tasks.pipeline"))
    assert any(i.module == "tasks.core.checkpoint" and i.lazy
               for i in imports_of("tasks.stages.train"))


# (a) the engine knows nothing about MNIST: no other project module, no numpy


@pytest.mark.parametrize("name", modules_under("tasks.engine"))
def test_the_engine_imports_only_itself_and_no_other_project_module(name: str) -> None:
    wrong = [where(name, i) for i in imports_of(name)
             if is_project(i.module) and not under(i.module, "tasks.engine")]
    assert not wrong, "the engine must not import the project's modules: " + "; ".join(wrong)


@pytest.mark.parametrize("name", modules_under("tasks.engine"))
def test_the_engine_imports_only_the_standard_library_prefect_and_pydantic(name: str) -> None:
    wrong = [where(name, i) for i in imports_of(name) if not is_project(i.module)
             and i.top not in sys.stdlib_module_names and i.top not in ENGINE_THIRD_PARTY]
    assert not wrong, f"the engine may use only the standard library and " \
                      f"{', '.join(sorted(ENGINE_THIRD_PARTY))}: " + "; ".join(wrong)


# (b) the core is pure


@pytest.mark.parametrize("name", modules_under("tasks.core"))
def test_the_core_imports_no_prefect(name: str) -> None:
    wrong = [where(name, i) for i in imports_of(name) if i.top == "prefect"]
    assert not wrong, "tasks/core must not import Prefect: " + "; ".join(wrong)


def prefect_path(name: str, seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The chain of project imports, lazy ones included, by which ``name`` reaches a Prefect
    import (ending in ``prefect``), or ``()`` if it reaches none."""
    if any(i.top == "prefect" for i in imports_of(name)):
        return (name, "prefect")
    for imported in imports_of(name):
        if imported.module in project_modules() and imported.module not in seen | {name}:
            chain = prefect_path(imported.module, seen | {name})
            if chain:
                return (name, *chain)
    return ()


def test_the_engine_has_pure_modules_for_the_core() -> None:
    """The atomic writes, the errors and the pointers reach no Prefect; the cache does."""
    for name in ("tasks.engine.atomic", "tasks.engine.errors", "tasks.engine.pointer"):
        assert prefect_path(name) == (), " -> ".join(prefect_path(name))
    assert prefect_path("tasks.engine.cache")[-1] == "prefect"


@pytest.mark.parametrize("name", modules_under("tasks.core"))
def test_the_core_imports_only_itself_and_the_engines_pure_modules(name: str) -> None:
    """No tasks.stages, pipeline, config, layout or flows; of the engine only what reaches no
    Prefect, even lazily (today atomic, errors and pointer)."""
    wrong = [where(name, i) for i in imports_of(name) if is_project(i.module)
             and not under(i.module, "tasks.core") and not under(i.module, "tasks.engine")]
    assert not wrong, "tasks/core may import only tasks.core and the engine: " + "; ".join(wrong)
    impure = [f"{where(name, i)}, which reaches Prefect: {' -> '.join(prefect_path(i.module))}"
              for i in imports_of(name)
              if under(i.module, "tasks.engine") and prefect_path(i.module)]
    assert not impure, "tasks/core may use only the engine's modules that reach no Prefect: " + \
        "; ".join(impure)


# (c) the flows sit on top


@pytest.mark.parametrize("name", modules_under("tasks"))
def test_no_task_module_imports_the_flows(name: str) -> None:
    wrong = [where(name, i) for i in imports_of(name) if i.top == "flows"]
    assert not wrong, "nothing in tasks/ may import flows/: " + "; ".join(wrong)


# (d) no import cycles


def import_graph(lazy: bool) -> dict[str, list[str]]:
    """Project module → the project modules it imports (at import time, or also lazily)."""
    return {name: sorted({i.module for i in imports_of(name)
                          if i.module in project_modules() and i.module != name
                          and (lazy or not i.lazy)})
            for name in project_modules()}


def find_cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first search, each as ``[a, b, …, a]``."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> None:
        path.append(node)
        on_path.add(node)
        for target in graph[node]:
            if target in on_path:
                cycles.append([*path[path.index(target):], target])
            elif target not in done:
                visit(target)
        on_path.discard(path.pop())
        done.add(node)

    for node in sorted(graph):
        if node not in done:
            visit(node)
    return cycles


def test_find_cycles_finds_a_cycle() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": ["b"], "b": [], "c": ["a", "b"]}) == []


def test_no_import_cycle_at_import_time() -> None:
    cycles = find_cycles(import_graph(lazy=False))
    assert not cycles, "import cycles among project modules:\n" + \
        "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_cycles_through_lazy_imports_are_reported() -> None:
    """Imports inside functions may point back (they run after every module has loaded): a
    cycle through one is reported as a warning, not a failure."""
    eager = import_graph(lazy=False)
    lazy = [cycle for cycle in find_cycles(import_graph(lazy=True))
            if any(b not in eager[a] for a, b in pairwise(cycle))]
    for cycle in lazy:
        warnings.warn(f"import cycle through a lazy import: {' -> '.join(cycle)}",
                      stacklevel=1)


# (e) module size


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_exceeds_the_line_limit() -> None:
    sizes = {str(path.relative_to(REPO_ROOT)): line_count(path)
             for path in project_modules().values()}
    over = sorted(f"{path} ({lines} lines)" for path, lines in sizes.items()
                  if lines > MAX_LINES and path not in OVER_MAX_LINES)
    assert not over, f"modules over {MAX_LINES} lines: {', '.join(over)}"
    stale = sorted(path for path in OVER_MAX_LINES if sizes.get(path, 0) <= MAX_LINES)
    assert not stale, f"no longer over {MAX_LINES} lines (or gone): take {', '.join(stale)} " \
                      "off OVER_MAX_LINES"


# (f) one Stage per stage module, named after it; the pipeline uses them


def stage_modules() -> list[str]:
    return sorted(p.stem for p in (REPO_ROOT / "tasks" / "stages").glob("*.py")
                  if p.stem != "__init__")


def declared_stages(module: str) -> list[str]:
    """The module-level names bound to a ``Stage(…)`` call in ``tasks/stages/<module>.py``."""
    tree = ast.parse((REPO_ROOT / "tasks" / "stages" / f"{module}.py").read_text(encoding="utf-8"))
    names: list[str] = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name | ast.Attribute) \
                and (getattr(value.func, "id", None) or getattr(value.func, "attr", "")) == "Stage":
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


@pytest.mark.parametrize("module", [m for m in stage_modules() if m not in NOT_A_STAGE])
def test_each_stage_module_declares_one_stage_named_after_it(module: str) -> None:
    from tasks.engine.stage import Stage

    declared = declared_stages(module)
    assert declared == [module], f"tasks/stages/{module}.py must declare exactly one Stage, " \
                                 f"`{module} = Stage(...)`; it declares {declared or 'none'}"
    imported = importlib.import_module(f"tasks.stages.{module}")
    stage = getattr(imported, module)
    assert isinstance(stage, Stage)
    assert stage.name == module.replace("_", "-"), \
        f"tasks/stages/{module}.py declares the stage {stage.name!r}"
    assert stage.task.fn.__module__ == imported.__name__, \
        f"stage {stage.name!r}'s task comes from {stage.task.fn.__module__}"
    owned = [n for n, v in vars(imported).items()
             if isinstance(v, Stage) and v.task.fn.__module__ == imported.__name__]
    assert owned == [module], f"tasks/stages/{module}.py holds the stages {owned}"


@pytest.mark.parametrize("module", sorted(NOT_A_STAGE))
def test_the_modules_without_a_stage_hold_an_uncached_task(module: str) -> None:
    from prefect.cache_policies import NO_CACHE

    assert module in stage_modules()
    assert declared_stages(module) == [], f"tasks/stages/{module}.py declares a Stage"
    task = getattr(importlib.import_module(f"tasks.stages.{module}"), module)
    assert task.name == module.replace("_", "-")
    assert task.cache_policy is NO_CACHE


def test_every_stage_of_the_pipeline_comes_from_the_module_named_after_it() -> None:
    from tasks.pipeline import DATA, MAIN

    for stage in MAIN:
        module = stage.name.replace("-", "_")
        assert module in stage_modules(), f"stage {stage.name!r} has no tasks/stages/{module}.py"
        assert getattr(importlib.import_module(f"tasks.stages.{module}"), module) is stage, \
            f"stage {stage.name!r} of MAIN is not the one tasks/stages/{module}.py declares"
    assert all(any(stage is known for known in MAIN) for stage in DATA)
    in_main = {stage.name.replace("-", "_") for stage in MAIN}
    unused = set(stage_modules()) - in_main - NOT_IN_MAIN - set(NOT_A_STAGE)
    assert not unused, f"stage modules in no pipeline: {sorted(unused)}"
    assert not in_main & NOT_IN_MAIN
