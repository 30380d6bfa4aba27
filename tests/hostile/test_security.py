"""Security basics: results only from the artifacts directory, never unpickled; servers on
127.0.0.1; no https -> http redirect."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prefect._internal.result_records import ResultRecord
from prefect.serializers import PickleSerializer
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

import flows.prefect_api
from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tasks.core.fetch import _MirrorError, _NoDowngradeRedirectHandler
from tasks.engine.cache import CacheStore

REPO_ROOT = Path(__file__).resolve().parents[2]


class Armed:
    """Unpickling this creates the file ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def _pickle_record(marker: Path, storage_key: str) -> bytes:
    payload = PickleSerializer(picklelib="pickle").dumps(Armed(marker)).decode()
    return json.dumps({"metadata": {"storage_key": storage_key, "expiration": None,
                                    "serializer": {"type": "pickle", "picklelib": "pickle"},
                                    "prefect_version": "3.9.1", "storage_block_id": None},
                       "result": payload}).encode()


def test_the_planted_payload_is_armed(tmp_path: Path) -> None:
    """Control: Prefect itself would unpickle such a record (so the next test means something)."""
    marker = tmp_path / "pwned"
    ResultRecord.deserialize(_pickle_record(marker, "x"))
    assert marker.exists()


def test_planted_pickle_records_are_never_loaded(tmp_path: Path, mnist_mirror: Path,
                                                 prefect_api_url: str) -> None:
    config = FlowConfig.model_validate({
        "train": {"steps": 20}, "data": {"mirror": str(mnist_mirror)},
        "artifacts_dir": tmp_path / "artifacts"})
    default_storage = tmp_path / "prefect-default-storage"
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: default_storage}):
        first = mnist_flow(config)
    records = CacheStore(config.artifacts_dir.resolve(), "mnist").records
    assert records.is_relative_to(config.artifacts_dir.resolve())
    stored = sorted(p.name.split("-")[0] for p in records.iterdir())
    assert stored == ["download", "evaluate", "export", "intake", "preprocess", "promote",
                      "train"]
    assert not default_storage.exists(), "nothing may go to Prefect's default result folder"
    marker = tmp_path / "pwned"
    for record in records.iterdir():  # an attacker replaces every record with a pickle
        record.write_bytes(_pickle_record(marker, str(record)))
    second = mnist_flow(config)
    assert not marker.exists(), "a planted pickle was unpickled"
    assert {s["status"] for s in second["stages"]} == {"ran"}  # refused, so recomputed
    assert second["test_accuracy"] == first["test_accuracy"]
    third = mnist_flow(config)  # the honest records written by the rerun are served again
    assert {s["status"] for s in third["stages"]} == {"cached"}


def test_local_servers_are_loopback_only() -> None:
    assert flows.prefect_api.LOCAL_SERVER.startswith("http://127.0.0.1:")
    for path in [*REPO_ROOT.glob("flows/*.py"), *REPO_ROOT.glob("tasks/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""["']0\.0\.0\.0["']""", text), f"{path} binds every interface"


@pytest.mark.parametrize("target", ["http://mirror.example/x.gz", "ftp://mirror.example/x.gz",
                                    "file:///etc/passwd"])
def test_https_download_never_follows_a_downgrade(target: str) -> None:
    handler = _NoDowngradeRedirectHandler()
    request = urllib.request.Request("https://mirror.example/x.gz")
    with pytest.raises(_MirrorError, match="refused a redirect"):
        handler.redirect_request(request, None, 302, "Found", {}, target)
