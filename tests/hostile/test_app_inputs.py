"""Each bad input to a real ``mnist-flow app`` gets a 4xx and one JSON line, and the app keeps
serving: a body over the limit (declared, or streamed without a length), not an image, a
decompression bomb, headers over the limit (in one read, or arriving in pieces), bad JSON,
a wrong array. A port in use is one ``error:`` line and exit 2."""

from __future__ import annotations

import json
import select
import socket
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.conftest import (
    CONSOLE_SCRIPT,
    app_process,
    one_on_paper,
    png_bytes,
    promote,
)

pytestmark = pytest.mark.hostile
LIMIT = 64 * 1024  # --max-body-bytes for these tests
HEADER_LIMIT = 4096


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 60_000) -> bytes:
    """A 100-byte PNG whose header declares ``side x side`` pixels (3.6 gigapixels)."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + _chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    artifacts = tmp_path_factory.mktemp("app")
    promote(artifacts, "model-a", seed=1)
    with app_process(artifacts, "--max-body-bytes", str(LIMIT),
                     "--max-header-bytes", str(HEADER_LIMIT)) as address:
        yield address


def _assert_refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.text.count("\n") == 0, response.text
    assert words in json.loads(response.text)["error"], response.text


def _assert_still_serving(url: str) -> None:
    answer = httpx.post(f"{url}/predict", content=png_bytes(one_on_paper()), timeout=60)
    assert answer.status_code == 200 and answer.json()["model"] == "model-a", answer.text


def test_a_body_over_the_limit_is_413_unread(url: str) -> None:
    _assert_refused(httpx.post(f"{url}/predict", content=b"\0" * (LIMIT + 1), timeout=60),
                    413, "over the limit")
    _assert_still_serving(url)


def test_a_streamed_body_without_a_length_is_cut_at_the_limit(url: str) -> None:
    def endless() -> Iterator[bytes]:
        for _ in range(1000):  # 64 MB if it were read to the end
            yield b"\xff" * 65536

    _assert_refused(httpx.post(f"{url}/predict", content=endless(), timeout=60),
                    413, "over the limit")
    _assert_still_serving(url)


@pytest.mark.parametrize("body", [b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 100,
                                  png_bytes(one_on_paper())[:60]],
                         ids=["text", "png-signature-only", "truncated-png"])
def test_not_an_image_is_415(url: str, body: bytes) -> None:
    _assert_refused(httpx.post(f"{url}/predict", content=body, timeout=60), 415,
                    "not a readable image")
    _assert_still_serving(url)


def test_a_decompression_bomb_is_refused_before_decoding(url: str) -> None:
    bomb = bomb_png()
    assert len(bomb) < 200
    _assert_refused(httpx.post(f"{url}/predict", content=bomb, timeout=60), 413,
                    "3600000000 pixels")
    _assert_still_serving(url)


def test_headers_over_the_limit_in_one_read_are_431(url: str) -> None:
    response = httpx.get(f"{url}/health", headers={"x-big": "a" * 2 * HEADER_LIMIT},
                         timeout=60)
    _assert_refused(response, 431, "headers are over the limit")
    _assert_still_serving(url)


def test_headers_arriving_in_pieces_past_the_limit_are_431(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(3 * HEADER_LIMIT // 1024):  # headers that never end, piece by piece
            sock.sendall(b"a" * 1024)
            # once the server has answered, more would only reset the connection
            if select.select([sock], [], [], 0.5)[0]:
                break
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431"), reply
    assert "over the limit" in json.loads(body)["error"]
    _assert_still_serving(url)


@pytest.mark.parametrize("body", [b'{"pixels": [1, 2', b"[[1, 2], [3]]", b'"seven"',
                                  json.dumps([[300] * 28] * 28).encode(),
                                  json.dumps([[0] * 27] * 28).encode(), b"[" * 50_000],
                         ids=["truncated", "ragged", "string", "over-255", "27-wide", "deep"])
def test_bad_json_is_422(url: str, body: bytes) -> None:
    response = httpx.post(f"{url}/predict", content=body, timeout=60,
                          headers={"content-type": "application/json"})
    _assert_refused(response, 422, "JSON")
    _assert_still_serving(url)


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(CONSOLE_SCRIPT), "app", "--artifacts-dir", str(tmp_path),
                               "--port", str(port)], capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use); pick another "
        f"--port, or stop what uses it"]
