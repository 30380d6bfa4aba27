"""docs/caching.md, "Adding a stage", executed: its worked example runs as the page shows it.

The page's ``<!-- example: PATH -->`` blocks become ``tasks/core/ink.py``,
``tasks/stages/ink.py`` and the new ``tasks.pipeline.MAIN``; every ``<!-- output: WHAT -->``
block must be what the flow then prints, ``…`` standing for lines and values that vary
(seconds, run names, times). Nothing is written into the checkout: the two modules go to a
temporary folder added to the ``tasks.core`` and ``tasks.stages`` packages' ``__path__``, so
they are imported, and digested by the cache key, under the names the page gives them.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import tasks.core
import tasks.stages
from flows.cli import parse_args
from flows.mnist_flow import explain_lines, explain_run, mnist_flow, print_summary
from tasks import pipeline
from tasks.config import FlowConfig
from tasks.engine.cache_key import clear_code_cache
from tasks.engine.stage import Stage
from tests.e2e.conftest import REPO_ROOT, statuses, with_changes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

PAGE = REPO_ROOT / "docs" / "caching.md"
BLOCK = re.compile(r"^<!-- (example|output): ([^>]+?) -->\n```\w*\n(.*?)^```$",
                   re.MULTILINE | re.DOTALL)
EXAMPLE_MODULES = {"tasks/core/ink.py": "tasks.core.ink", "tasks/stages/ink.py": "tasks.stages.ink"}


def page_blocks(kind: str) -> dict[str, str]:
    """The page's ``<!-- KIND: NAME -->`` fenced blocks, by name."""
    text = PAGE.read_text(encoding="utf-8")
    return {name: body for found, name, body in BLOCK.findall(text) if found == kind}


EXAMPLES = page_blocks("example")
OUTPUTS = page_blocks("output")


def varying(line: str) -> str:
    """``line`` with what changes from run to run written ``…``, as the page writes it."""
    line = re.sub(r"run `[^`]*` \([^)]*\)", "run `…` (…)", line)
    # print_summary's seconds column, `{seconds:7.2f} s`, keeping its width
    return re.sub(r" \s*\d+\.\d\d s$", lambda m: "…".rjust(len(m[0]) - 2) + " s", line)


def shows(page: str, printed: Sequence[str]) -> bool:
    """Does the page's output block match ``printed``? Its ``$ …`` line is the command; a
    line ``…`` stands for any lines (none included); every other line must be a line printed
    (after :func:`varying`), in order, consecutive where the page shows them so."""
    pattern = [line for line in page.splitlines() if not line.startswith("$ ")]
    lines = [varying(line) for line in printed]

    def match(p: int, i: int) -> bool:
        if p == len(pattern):
            return i == len(lines)
        if pattern[p] == "…":
            return any(match(p + 1, j) for j in range(i, len(lines) + 1))
        return i < len(lines) and lines[i] == pattern[p] and match(p + 1, i + 1)

    return match(0, 0)


def assert_shows(name: str, printed: Sequence[str]) -> None:
    assert shows(OUTPUTS[name], printed), (
        f"docs/caching.md, output {name!r}:\n{OUTPUTS[name]}\nprinted:\n"
        + "\n".join(map(varying, printed)))


@pytest.fixture
def ink_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The page's two modules, importable as ``tasks.core.ink`` and ``tasks.stages.ink``
    from a temporary folder; yields the folder. ``tasks.pipeline.MAIN`` is left as it is."""
    assert set(EXAMPLES) == {*EXAMPLE_MODULES, "tasks/pipeline.py"}, sorted(EXAMPLES)
    folder = tmp_path / "example"
    for path, source in EXAMPLES.items():
        if path in EXAMPLE_MODULES:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(source, encoding="utf-8")
    for package in (tasks.core, tasks.stages):
        extra = folder / package.__name__.replace(".", "/")
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(extra)])
    assert not any(name in sys.modules for name in EXAMPLE_MODULES.values())
    importlib.invalidate_caches()
    clear_code_cache()
    try:
        yield folder
    finally:
        for name in EXAMPLE_MODULES.values():
            sys.modules.pop(name, None)
            parent, _, leaf = name.rpartition(".")
            if hasattr(sys.modules[parent], leaf):
                delattr(sys.modules[parent], leaf)
        clear_code_cache()


def pipeline_with_ink() -> tuple[Stage, ...]:
    """``MAIN`` as the page's ``tasks/pipeline.py`` block declares it."""
    namespace = dict(vars(pipeline))
    exec(compile(EXAMPLES["tasks/pipeline.py"], "docs/caching.md", "exec"), namespace)
    return namespace["MAIN"]


def run_printed(config: FlowConfig, capsys: pytest.CaptureFixture[str]) -> tuple[dict, list]:
    """A run of the flow, and the lines ``mnist-flow`` prints for it (no dashboard)."""
    result = mnist_flow(config)
    capsys.readouterr()
    print_summary(result, None)
    return result, capsys.readouterr().out.splitlines()


def test_the_worked_example_of_adding_a_stage(
        quick_config: FlowConfig, ink_stage: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = pipeline.stage_names()
    first = mnist_flow(quick_config)  # the pipeline as it is: no ink
    assert set(statuses(first).values()) == {"ran"}

    # The page's tasks/pipeline.py: ink joins MAIN just before publish.
    main = pipeline_with_ink()
    real = [stage.name for stage in pipeline.MAIN]
    assert [stage.name for stage in main] == [*real[:-1], "ink", real[-1]]
    monkeypatch.setattr(pipeline, "MAIN", main)
    assert pipeline.stage_names() == (*before, "ink")
    assert parse_args(["--force", "ink"]).force == "ink"
    assert with_changes(quick_config, force="ink").forced_stages(pipeline.stage_names()) == (
        "ink",)

    assert_shows("explain before the first run", explain_lines(quick_config))
    added, printed = run_printed(quick_config, capsys)
    assert statuses(added) == {**dict.fromkeys(before, "cached"), "ink": "ran"}
    assert_shows("the first run", printed)
    ink_json = quick_config.artifacts_dir / "mnist" / "ink" / "ink.json"
    ink = json.loads(ink_json.read_text(encoding="utf-8"))
    assert list(ink) == [str(digit) for digit in range(10)]
    assert all(0.05 < share < 0.5 for share in ink.values()), ink
    assert min(ink, key=ink.__getitem__) == "1"  # the thinnest digit
    assert ink == json.loads(OUTPUTS["ink.json"])

    again, printed = run_printed(quick_config, capsys)
    assert statuses(again) == dict.fromkeys((*before, "ink"), "cached")
    assert_shows("the second run", printed)
    assert_shows("explain after the second run", explain_lines(quick_config))
    assert {v.stage: v.runs for v in explain_run(quick_config)}["ink"] is False

    core = ink_stage / "tasks" / "core" / "ink.py"
    core.write_text(core.read_text(encoding="utf-8") + "# an edit\n", encoding="utf-8")
    clear_code_cache()  # sources are digested once per process
    assert_shows("explain after an edit of tasks/core/ink.py", explain_lines(quick_config))
    edited, printed = run_printed(quick_config, capsys)
    assert statuses(edited) == {**dict.fromkeys(before, "cached"), "ink": "ran"}
    assert_shows("the run after an edit of tasks/core/ink.py", printed)
