"""Fashion-MNIST through the same flow, offline from Debian's packaged copy, never mixed with MNIST.

Needs ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``; CI's
``.ci/run`` installs it when absent). Every HTTP request is refused, so a pass proves the run
needed no internet at all.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prefect.artifacts import Artifact
from prefect.settings import PREFECT_API_URL

from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tasks.core.registry import FASHION_MNIST, MNIST, DatasetSpec
from tasks.engine.atomic import sha256_file
from tasks.pipeline import stage_names
from tests.e2e.conftest import QUICK_TRAIN, cli, statuses

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")

pytestmark = [
    pytest.mark.e2e, pytest.mark.usefixtures("prefect_server"),
    pytest.mark.skipif(not DEBIAN_FOLDER.is_dir(), reason=f"{DEBIAN_FOLDER} is absent: "
                       "apt-get install dataset-fashion-mnist (CI's .ci/run does)"),
]

STAGES = stage_names()
ALL_RAN = dict.fromkeys(STAGES, "ran")
ALL_CACHED = dict.fromkeys(STAGES, "cached")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, mnist_mirror: Path) -> None:
    """No HTTP request can succeed; ``$MNIST_MIRROR`` names MNIST's folder, as in CI."""

    def refuse(self: object, request: Any, *args: object, **kwargs: object) -> None:
        url = getattr(request, "full_url", request)
        raise AssertionError(f"the run tried the network: {url}")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)
    monkeypatch.setenv("MNIST_MIRROR", str(mnist_mirror))
    monkeypatch.delenv("FASHION_MNIST_MIRROR", raising=False)


def config_for(dataset: str, artifacts: Path) -> FlowConfig:
    """A quick run of ``dataset`` with no explicit mirror: the defaults or its own variable."""
    return FlowConfig.model_validate({"preset": "original", "train": QUICK_TRAIN,
                                      "data": {"dataset": dataset}, "artifacts_dir": artifacts})


def tree_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file()}


def metrics_of(result: dict[str, Any]) -> dict[str, Any]:
    return json.loads((Path(result["model_dir"]) / "metrics.json").read_text(encoding="utf-8"))


def published_accuracy(dataset: str) -> dict[str, float]:
    """``{split: accuracy}`` from the latest ``<dataset>-metrics`` table artifact."""
    artifact = Artifact.get(f"{dataset}-metrics")
    assert artifact is not None, f"no {dataset}-metrics artifact"
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return {row["split"]: row["accuracy"] for row in rows}


def accuracy_of(result: dict[str, Any]) -> dict[str, float]:
    return {"train": result["train_accuracy"], "test": result["test_accuracy"]}


def assert_belongs_to(result: dict[str, Any], spec: DatasetSpec, artifacts: Path) -> None:
    """The run's model, metrics, report and raw payloads are all ``spec``'s own."""
    assert Path(result["model_dir"]).parent == artifacts.resolve() / spec.name / "models"
    assert metrics_of(result)["test"]["class_names"] == list(spec.class_names)
    report = (Path(result["model_dir"]) / "report.md").read_text(encoding="utf-8")
    assert f"| {spec.class_names[-1]} |" in report
    for idx_file in spec.files.values():
        assert sha256_file(artifacts / spec.name / "raw" / idx_file.name) == idx_file.sha256


@pytest.mark.usefixtures("offline")
def test_alternating_datasets_never_mix_stages_or_artifacts(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    digits, fashion = config_for("mnist", artifacts), config_for("fashion-mnist", artifacts)

    first_digits = mnist_flow(digits)
    assert statuses(first_digits) == ALL_RAN
    digits_tree = tree_digests(artifacts / "mnist")
    assert published_accuracy("mnist") == accuracy_of(first_digits)

    # Same file names, same parameters, same code: only the dataset differs, and every
    # stage runs, the download included (from the Debian folder: the network is refused).
    first_fashion = mnist_flow(fashion)
    assert statuses(first_fashion) == ALL_RAN
    assert (artifacts / "latest").resolve() == Path(first_fashion["model_dir"])
    assert published_accuracy("fashion-mnist") == accuracy_of(first_fashion)
    assert published_accuracy("mnist") == accuracy_of(first_digits)  # left alone
    assert accuracy_of(first_fashion) != accuracy_of(first_digits)

    again_digits = mnist_flow(digits)
    assert statuses(again_digits) == ALL_CACHED
    assert again_digits["model_dir"] == first_digits["model_dir"]
    assert again_digits["test_accuracy"] == first_digits["test_accuracy"]
    # `latest` is the last run of any dataset: it moved back to MNIST's model.
    assert (artifacts / "latest").resolve() == Path(first_digits["model_dir"])

    again_fashion = mnist_flow(fashion)
    assert statuses(again_fashion) == ALL_CACHED
    assert again_fashion["model_dir"] == first_fashion["model_dir"]
    assert accuracy_of(again_fashion) == accuracy_of(first_fashion)
    assert published_accuracy("fashion-mnist") == accuracy_of(first_fashion)
    assert published_accuracy("mnist") == accuracy_of(first_digits)

    assert tree_digests(artifacts / "mnist") == digits_tree  # fashion runs wrote nothing there
    assert_belongs_to(first_digits, MNIST, artifacts)
    assert_belongs_to(first_fashion, FASHION_MNIST, artifacts)
    report = Artifact.get("fashion-mnist-report")
    assert report is not None and "| Ankle boot |" in str(report.data)
    folders = {p.name for p in artifacts.iterdir()
               if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")}
    assert folders == {"mnist", "fashion-mnist"}


def test_the_readme_command_runs_fashion_mnist_with_no_internet(tmp_path: Path,
                                                                mnist_mirror: Path) -> None:
    artifacts = tmp_path / "artifacts"
    # A proxy that refuses every connection: an attempt at the S3 mirror would fail the run.
    # MNIST_MIRROR is set as in CI and must not be taken for a Fashion-MNIST mirror.
    env = {"PREFECT_API_URL": PREFECT_API_URL.value(), "MNIST_MIRROR": str(mnist_mirror),
           "FASHION_MNIST_MIRROR": "", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost"}
    run = cli("--dataset", "fashion-mnist", "--steps", str(QUICK_TRAIN["steps"]),
              "--artifacts-dir", str(artifacts), env=env)
    output, _ = run.communicate(timeout=300)
    assert run.returncode == 0, output
    assert f"mirrors, in order: {FASHION_MNIST.mirrors[0]}" in output
    assert "failed for" not in output  # no mirror was tried and found wanting
    assert "download   ran" in output and "export     ran" in output
    model = (artifacts / "latest").resolve()
    assert model.parent == artifacts.resolve() / "fashion-mnist" / "models"
    assert {"W_1.csv", "confusion_matrix.png", "report.md"} <= {p.name for p in model.iterdir()}
