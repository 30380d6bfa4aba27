"""The real download code against local HTTP servers on 127.0.0.1, folders and file:// URLs.

Most cases use a tiny crafted dataset (3 images) whose digests are computed here, so each
network case takes milliseconds; one case fetches the real MNIST mirror over HTTP.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from tasks.core.errors import ConfigError, DataError
from tasks.core.fetch import (
    DownloadProgress,
    _MirrorError,
    _NoDowngradeRedirectHandler,
    fetch_dataset,
    format_progress,
    resolve_mirrors,
)
from tasks.core.registry import MNIST, DatasetSpec, IdxFile

FAST = {"timeout": 0.5, "retries": 2, "backoff": 0.01}


def _idx(magic: int, array: np.ndarray) -> bytes:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _payloads(seed: int = 0) -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": ("tiny-train-images", _idx(2051, rng.integers(0, 256, (3, 28, 28)))),
        "train_labels": ("tiny-train-labels", _idx(2049, np.array([0, 1, 2]))),
        "test_images": ("tiny-test-images", _idx(2051, rng.integers(0, 256, (2, 28, 28)))),
        "test_labels": ("tiny-test-labels", _idx(2049, np.array([3, 9]))),
    }


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[DatasetSpec, Path, dict[str, bytes]]:
    """A 4-file dataset spec, a folder serving its .gz files, and its payloads by name."""
    payloads = _payloads()
    spec = DatasetSpec(
        name="tiny",
        files=MappingProxyType({
            role: IdxFile(name, hashlib.sha256(data).hexdigest(), len(data))
            for role, (name, data) in payloads.items()
        }),
        mirrors=("http://127.0.0.1:9/",),
        class_names=tuple("0123456789"),
        mirror_env="MNIST_MIRROR",
    )
    folder = tmp_path / "good"
    folder.mkdir()
    for name, data in payloads.values():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    return spec, folder, {name: data for name, data in payloads.values()}


def _quiet_handler(directory: Path) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[type[http.server.BaseHTTPRequestHandler]], str]]:
    """Start HTTP servers on ephemeral 127.0.0.1 ports; returns ``start(handler) -> base URL``."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type[http.server.BaseHTTPRequestHandler]) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_mirror() -> Iterator[str]:
    """A port that accepts connections (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sock.close()


def _status_handler(code: int, hits: list[str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_error(code)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _assert_clean(raw_dir: Path, spec: DatasetSpec) -> None:
    """raw_dir holds nothing but verified payloads under their final names."""
    expected = {f.name: f for f in spec.files.values()}
    for path in raw_dir.iterdir():
        assert path.name in expected, f"unexpected file {path.name}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == expected[path.name].sha256


def _assert_complete(paths: dict[str, Path], spec: DatasetSpec, payloads: dict[str, bytes]) -> None:
    assert set(paths) == set(spec.files)
    for role, path in paths.items():
        assert path.name == spec.files[role].name
        assert path.read_bytes() == payloads[path.name]


def test_good_http_mirror_with_progress(tiny, serve, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    seen: list[DownloadProgress] = []
    url = serve(_quiet_handler(folder))
    paths = fetch_dataset(spec, [url], tmp_path / "raw", on_progress=seen.append, **FAST)
    _assert_complete(paths, spec, payloads)
    _assert_clean(tmp_path / "raw", spec)
    finals = {p.file: p for p in seen}
    assert set(finals) == {f.remote_name for f in spec.files.values()}
    for name, progress in finals.items():
        assert progress.done == progress.total == (folder / name).stat().st_size
        assert progress.eta == 0
    assert "MB/s" in format_progress(seen[-1])


def test_404_then_good_mirror(tiny, serve, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    hits: list[str] = []
    missing = serve(_status_handler(404, hits))
    paths = fetch_dataset(spec, [missing, serve(_quiet_handler(folder))], tmp_path / "raw", **FAST)
    _assert_complete(paths, spec, payloads)
    _assert_clean(tmp_path / "raw", spec)
    assert len(hits) == 4, "a 404 is not transient: one request per file, no retries"


def test_transient_503_is_retried(tiny, serve, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    hits: list[str] = []
    good = _quiet_handler(folder)

    class Flaky(good):  # type: ignore[misc,valid-type]
        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            hits.append(self.path)
            if hits.count(self.path) == 1:
                self.send_error(503)
            else:
                super().do_GET()

    paths = fetch_dataset(spec, [serve(Flaky)], tmp_path / "raw", **FAST)
    _assert_complete(paths, spec, payloads)
    assert len(hits) == 8


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "wrong_magic", "not_gzip"])
def test_bad_file_moves_on_to_next_mirror(tiny, serve, tmp_path: Path, damage: str) -> None:
    spec, folder, payloads = tiny
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, data in payloads.items():
        if damage == "corrupt":
            blob = gzip.compress(data[:-1] + bytes([data[-1] ^ 0xFF]))
        elif damage == "truncated":
            blob = gzip.compress(data)[: len(gzip.compress(data)) // 2]
        elif damage == "wrong_magic":
            blob = gzip.compress((7).to_bytes(4, "big") + data[4:])
        else:
            blob = data
        (bad / f"{name}.gz").write_bytes(blob)
    raw_dir = tmp_path / "raw"
    with pytest.raises(DataError) as caught:
        fetch_dataset(spec, [serve(_quiet_handler(bad))], raw_dir, **FAST)
    reason = {"corrupt": "sha256", "truncated": "truncated", "wrong_magic": "magic number reads 7",
              "not_gzip": "not a valid gzip"}[damage]
    assert reason in str(caught.value)
    _assert_clean(raw_dir, spec)
    assert not list(raw_dir.iterdir())
    paths = fetch_dataset(spec, [serve(_quiet_handler(bad)), str(folder)], raw_dir, **FAST)
    _assert_complete(paths, spec, payloads)
    _assert_clean(raw_dir, spec)


def test_silent_mirror_times_out_then_next(tiny, silent_mirror, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    paths = fetch_dataset(spec, [silent_mirror, str(folder)], tmp_path / "raw", **FAST)
    _assert_complete(paths, spec, payloads)
    _assert_clean(tmp_path / "raw", spec)


def test_all_mirrors_bad_raises_one_error_naming_each(tiny, serve, silent_mirror,
                                                     tmp_path: Path) -> None:
    spec, _, _ = tiny
    missing = serve(_status_handler(404, []))
    broken = serve(_status_handler(500, []))
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    mirrors = [missing, broken, silent_mirror, str(empty_dir)]
    stale = tmp_path / "raw" / spec.files["train_images"].name
    stale.parent.mkdir()
    stale.write_bytes(b"left by an older, broken run")
    with pytest.raises(DataError) as caught:
        fetch_dataset(spec, mirrors, tmp_path / "raw", **FAST)
    message = str(caught.value)
    for mirror in mirrors:
        assert mirror in message
    for reason in ("HTTP 404", "HTTP 500", "(2 attempts)", "timed out", "no file", "MNIST_MIRROR",
                   "--mirror"):
        assert reason in message
    assert not list((tmp_path / "raw").iterdir())


def test_unreachable_mirror_is_skipped_for_later_files(tiny, silent_mirror, tmp_path) -> None:
    spec, folder, _ = tiny
    broken = tmp_path / "broken"
    broken.mkdir()
    first = next(iter(spec.files.values())).remote_name
    (broken / first).write_bytes((folder / first).read_bytes())
    with pytest.raises(DataError) as caught:
        fetch_dataset(spec, [silent_mirror, str(broken)], tmp_path / "raw", **FAST)
    assert "skipped: unreachable" in str(caught.value)


def test_gzip_bomb_refused(tiny, serve, tmp_path: Path) -> None:
    spec, _, _ = tiny
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    for idx_file in spec.files.values():
        (bomb / idx_file.remote_name).write_bytes(gzip.compress(bytes(50_000_000), 9))
    with pytest.raises(DataError, match="more than the expected") as caught:
        fetch_dataset(spec, [serve(_quiet_handler(bomb))], tmp_path / "raw", **FAST)
    assert "bomb" in str(caught.value)
    assert not list((tmp_path / "raw").iterdir())


def test_redirect_followed_within_http(tiny, serve, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    target = serve(_quiet_handler(folder))

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target + self.path.lstrip("/"))
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    paths = fetch_dataset(spec, [serve(Redirect)], tmp_path / "raw", **FAST)
    _assert_complete(paths, spec, payloads)


@pytest.mark.parametrize(("source", "target"), [
    ("https://example.org/a.gz", "http://example.org/a.gz"),
    ("http://example.org/a.gz", "file:///etc/passwd"),
])
def test_redirect_downgrade_refused(source: str, target: str) -> None:
    handler = _NoDowngradeRedirectHandler()
    request = urllib.request.Request(source)
    with pytest.raises(_MirrorError, match="refused a redirect"):
        handler.redirect_request(request, None, 302, "Found", {}, target)


def test_https_redirect_to_https_allowed() -> None:
    handler = _NoDowngradeRedirectHandler()
    request = urllib.request.Request("https://example.org/a.gz")
    new = handler.redirect_request(request, None, 302, "Found", {}, "https://cdn.example.org/a.gz")
    assert new is not None and new.full_url == "https://cdn.example.org/a.gz"


def test_file_url_and_unpacked_folder(tiny, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    paths = fetch_dataset(spec, [folder.as_uri()], tmp_path / "raw1", **FAST)
    _assert_complete(paths, spec, payloads)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    for name, data in payloads.items():
        (unpacked / name).write_bytes(data)
    paths = fetch_dataset(spec, [str(unpacked)], tmp_path / "raw2", **FAST)
    _assert_complete(paths, spec, payloads)
    _assert_clean(tmp_path / "raw2", spec)


def test_verified_files_are_not_fetched_again(tiny, serve, tmp_path: Path) -> None:
    spec, folder, payloads = tiny
    raw_dir = tmp_path / "raw"
    fetch_dataset(spec, [str(folder)], raw_dir, **FAST)
    stale = raw_dir / spec.files["test_labels"].name
    stale.write_bytes(b"not the payload")
    hits: list[str] = []
    counting = _quiet_handler(folder)

    class Counting(counting):  # type: ignore[misc,valid-type]
        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            hits.append(self.path)
            super().do_GET()

    paths = fetch_dataset(spec, [serve(Counting)], raw_dir, **FAST)
    _assert_complete(paths, spec, payloads)
    assert hits == ["/" + spec.files["test_labels"].remote_name]


def test_real_mnist_over_http(mnist_mirror: Path, serve, tmp_path: Path) -> None:
    paths = fetch_dataset(MNIST, [serve(_quiet_handler(mnist_mirror))], tmp_path / "raw", **FAST)
    for role, path in paths.items():
        assert path.stat().st_size == MNIST.files[role].size
    _assert_clean(tmp_path / "raw", MNIST)


def test_resolve_mirrors(tmp_path: Path) -> None:
    assert resolve_mirrors(MNIST, None) == list(MNIST.mirrors)
    assert resolve_mirrors(MNIST, "  ") == list(MNIST.mirrors)
    assert resolve_mirrors(MNIST, "https://m.example/mnist/") == ["https://m.example/mnist/"]
    assert resolve_mirrors(MNIST, tmp_path.as_uri()) == [tmp_path.as_uri()]
    assert resolve_mirrors(MNIST, str(tmp_path)) == [str(tmp_path)]
    assert resolve_mirrors(MNIST, "~/mnist") == [str(Path.home() / "mnist")]
    with pytest.raises(ConfigError, match="ftp"):
        resolve_mirrors(MNIST, "ftp://m.example/mnist/")


def test_no_mirrors_is_a_config_error(tiny, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        fetch_dataset(tiny[0], [], tmp_path / "raw")

