"""The `original` preset on the real MNIST, to the bit: speed-ups must not move a weight.

The digests were recorded from a default run of the code before the issue-14 speed-ups
(batched history, split hand-over, lazy imports); any change to the numerics shows here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

ORIGINAL_SHA256 = {
    "W_1.csv": "f9971d795db61bec57a87fb235872c6f749378f6c6c1647423617465ccce4809",
    "W_2.csv": "df5d53fa6e95084f70df84a16fccc0c6c7fce14265905fed689850140c83c7d8",
    "b_1.csv": "dbcd6596ff31fb03de3a2056e0f2fc3f3760f763bc3ec7711da7eec863deeb3a",
    "b_2.csv": "b78d82e57c9a23eb61cf4fc42913b818d376b7dca7086a642f003218f6ba0f9c",
}


def test_original_preset_weights_and_accuracies_are_exactly_the_published_ones(
        tmp_path: Path, mnist_mirror: Path) -> None:
    config = FlowConfig.model_validate({"preset": "original", "artifacts_dir": tmp_path,
                                        "data": {"mirror": str(mnist_mirror)}})
    result = mnist_flow(config)
    model = Path(result["model_dir"])
    digests = {name: hashlib.sha256((model / name).read_bytes()).hexdigest()
               for name in ORIGINAL_SHA256}
    assert digests == ORIGINAL_SHA256
    assert result["test_accuracy"] == 0.8775  # 8775 of 10,000
    assert result["train_accuracy"] == 0.87405  # 52,443 of 60,000: "0.8740" in the summary
    # The dashboard's progress bar ends full (updates are throttled to one a second).
    assert _progress_artifacts(result["flow_run_id"]) == [100.0]


def _progress_artifacts(flow_run_id: str) -> list[float]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return [float(a.data) for a in artifacts if a.type == "progress"]
