"""Intake against hostile folders: every file is accepted or rejected, nothing ever raises."""

from __future__ import annotations

import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.datasets import load_split
from tasks.core.intake import run_intake
from tasks.core.registry import MNIST
from tests.hostile.test_fuzz_images import _good_png, _png_header_only

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NAMES = st.text(st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1,
                max_size=12).filter(lambda name: name not in (".", ".."))
CONTENT = st.one_of(st.binary(max_size=512), st.just(_good_png()),
                    st.builds(_png_header_only, st.integers(0, 100_000),
                              st.integers(0, 100_000)))


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(["3", "7", "eleven", "T-shirt_top", "."]),
                                NAMES, CONTENT), max_size=8))
def test_any_folder_gives_valid_outputs_and_a_verdict_per_file(tmp_path: Path, files) -> None:
    root = tmp_path / "incoming"
    shutil.rmtree(root, ignore_errors=True)
    written = set()
    for folder, name, content in files:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.add(path.relative_to(root).as_posix())
    result = run_intake(root, tmp_path / "out", MNIST.class_names)
    assert {item.path for item in result.files} == written
    assert all(item.reason for item in result.rejected)
    X, _ = load_split(Path(result.outputs["incoming"]))
    X_hold, _ = load_split(Path(result.outputs["holdout"]))
    assert len(X) + len(X_hold) == len(result.accepted)
