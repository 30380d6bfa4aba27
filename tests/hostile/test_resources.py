"""Resource failures: full disk, read-only folders, an unwritable Prefect home, a download cut
mid-body. Each ends in one clear error, leaves no file a later run takes as complete, and the
next run after the fault is fixed succeeds."""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

import flows.cli
import flows.options
import flows.prefect_api
from tasks.core.datasets import load_split, write_split
from tasks.core.errors import ConfigError, DataError, OutputError
from tasks.core.export import load_weights_csv, write_weights_csv
from tasks.core.fetch import fetch_dataset
from tasks.core.network import init_params
from tasks.core.registry import DatasetSpec, IdxFile
from tests.hostile.conftest import immutable, run_flow, tmpfs

ROWS = 3000  # 9.4 MB of float32 pixels: far more than a 1 MB tmpfs holds


def _split() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((ROWS, 784), dtype=np.float32), rng.integers(0, 10, ROWS,
                                                                          dtype=np.uint8)


def _big_params() -> dict[str, np.ndarray]:
    return init_params(300, np.random.RandomState(0), scale=0.1, dtype=np.float64, he=False)


def test_full_tmpfs_during_parquet_then_retry_elsewhere(tmp_path: Path) -> None:
    X, y = _split()
    with tmpfs(tmp_path / "full", "size=1m") as full:
        with pytest.raises(OutputError, match="No space left on device") as caught:
            write_split(full / "train.parquet", X, y, {})
        assert str(full / "train.parquet") in str(caught.value)
        assert list(full.iterdir()) == [], "no partial or temporary file may remain"
    write_split(tmp_path / "train.parquet", X, y, {})  # the disk has room again
    np.testing.assert_array_equal(load_split(tmp_path / "train.parquet")[1], y)


def test_full_tmpfs_during_csv_export(tmp_path: Path) -> None:
    params = _big_params()  # W_1.csv alone is ~5 MB of %.17g text
    with tmpfs(tmp_path / "full", "size=1m") as full:
        with pytest.raises(OutputError, match="No space left on device"):
            write_weights_csv(params, full)
        assert [p.name for p in full.iterdir() if p.name.startswith(".")] == []
        with pytest.raises(Exception, match="missing"):  # the set is incomplete: not loadable
            load_weights_csv(full)
    write_weights_csv(params, tmp_path)
    np.testing.assert_array_equal(load_weights_csv(tmp_path)["W_1"], params["W_1"])


def test_patched_enospc_mid_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root: a write that fails half-way with ENOSPC, as on a full disk."""
    def full(self: Path, data: Any) -> None:
        with open(self, "wb") as stream:  # write_split writes the encoded file in one go
            stream.write(bytes(memoryview(data)[:9]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OutputError, match=r"train\.parquet: No space left on device"):
        write_split(tmp_path / "train.parquet", *_split(), {})
    assert list(tmp_path.iterdir()) == []


def test_read_only_mount_as_artifacts_dir_is_refused_up_front(tmp_path: Path) -> None:
    """A read-only filesystem stops even root: the CLI says so before any work."""
    with tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        args = flows.cli.parse_args(["--artifacts-dir", str(read_only / "a")])
        with pytest.raises(ConfigError, match="cannot create the artifacts directory"):
            flows.options.config_from_args(args)
        args = flows.cli.parse_args(["--artifacts-dir", str(read_only)])
        with pytest.raises(ConfigError, match="is not a writable folder"):
            flows.options.config_from_args(args)


def test_read_only_stage_folder_mid_run(tmp_path: Path) -> None:
    """A stage folder made immutable (``chattr +i``; permission bits do not stop root)."""
    folder = tmp_path / "parquet"
    folder.mkdir()
    X, y = _split()
    with immutable(folder), pytest.raises(OutputError, match="Operation not permitted") as caught:
        write_split(folder / "train.parquet", X, y, {})
    assert str(folder) in str(caught.value)
    assert list(folder.iterdir()) == []
    write_split(folder / "train.parquet", X, y, {})


def test_unwritable_prefect_home_is_a_config_error(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With no server to talk to, Prefect's temporary server needs a writable PREFECT_HOME;
    without this check the user waited ~25 s for a page of server tracebacks."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(flows.prefect_api, "LOCAL_SERVER", "http://127.0.0.1:9/api")  # closed
    with immutable(home), temporary_settings(updates={PREFECT_HOME: home},
                                             restore_defaults={PREFECT_API_URL}):
        with pytest.raises(ConfigError, match=r"Prefect home .* is not a writable folder"):
            flows.prefect_api.local_server_settings()
        with temporary_settings(updates={PREFECT_HOME: home / "missing"}), pytest.raises(
                ConfigError, match="Set PREFECT_HOME to a writable folder"):
            flows.prefect_api.local_server_settings()
    with temporary_settings(updates={PREFECT_HOME: home}, restore_defaults={PREFECT_API_URL}):
        flows.prefect_api.local_server_settings()  # writable again: no complaint


# ------------------------------------------------------------------ interrupted download
PAYLOAD = np.array([2049, 3], dtype=">u4").tobytes() + bytes([1, 2, 3])
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
SPEC = DatasetSpec(  # four identical tiny payloads: only the transport is under test
    name="tiny", class_names=tuple("0123456789"), mirrors=(),
    files=MappingProxyType({role: IdxFile(f"tiny-{role}", hashlib.sha256(PAYLOAD).hexdigest(),
                                          len(PAYLOAD)) for role in ROLES}))


def _server(body: bytes, *, cut: int | None) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
            self.wfile.flush()
            self.close_connection = True  # then drop the connection mid-body

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def servers() -> Iterator[dict[str, str]]:
    blob = gzip.compress(PAYLOAD)
    dropping, good = _server(blob, cut=len(blob) // 2), _server(blob, cut=None)
    yield {"dropping": next(dropping), "good": next(good)}
    for generator in (dropping, good):
        generator.close()


def test_connection_dropped_mid_body(tmp_path: Path, servers: dict[str, str]) -> None:
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match="closed before the whole file arrived") as caught:
        fetch_dataset(SPEC, [servers["dropping"]], raw, timeout=2, retries=2, backoff=0.01)
    assert servers["dropping"] in str(caught.value) and "--mirror" in str(caught.value)
    assert list(raw.iterdir()) == [], "nothing partial under any name"
    paths = fetch_dataset(SPEC, [servers["good"]], raw, timeout=2, retries=1)
    assert all(path.read_bytes() == PAYLOAD for path in paths.values())


# ------------------------------------------------------------------ through the real CLI
def test_disk_full_in_a_stage_then_rerun_resumes(tmp_path: Path, mnist_mirror: Path,
                                                 prefect_api_url: str) -> None:
    """``python flows/mnist_flow.py`` with the Parquet write failing (ENOSPC): one line,
    exit 2, no traceback, no manifest for the stage; the next run resumes after download."""
    args = ["--steps", "20", "--mirror", str(mnist_mirror), "--artifacts-dir",
            str(tmp_path / "artifacts")]
    env = {"PREFECT_API_URL": prefect_api_url}
    failed = run_flow("--enospc=preprocess", *args, env=env)
    output, _ = failed.communicate(timeout=300)
    assert failed.returncode == 2, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and "No space left on device" in last
    assert "Traceback" not in output
    parquet = tmp_path / "artifacts" / "mnist" / "parquet"
    assert not parquet.exists() or list(parquet.iterdir()) == []
    cache = tmp_path / "artifacts" / "mnist" / ".cache"
    # Stage records are named <stage>-<key>; Prefect also stores the failure under a uuid.
    records = [p.name for p in (cache / "records").iterdir() if "-" in p.name]
    assert all(name.startswith("download-") for name in records), records
    rerun = run_flow(*args, env=env)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "hostile: download called" not in output  # from cache
    assert "preprocess ran" in output and "export     ran" in output
