"""Servers on 127.0.0.1 that misbehave the way real networks do, for tests and by hand.

    python tests/hostile/faulty_servers.py trickle   # prints its URL, then serves until killed
    python tests/hostile/faulty_servers.py silent

``trickling_mirror``: every file answers 200 with its headers at once, then one byte per
second. ``silent_port``: accepts connections and never sends a byte (a hung API server).
``dead_port``: a port where nothing listens. ``healthy_api``: a stand-in Prefect API whose
``/health`` answers until its ``stop`` is called (a server that goes away). Each stops when its
``with`` block ends.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator

_BODY = gzip.compress(bytes(1_000_000), mtime=0)  # a valid start: the client keeps reading


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(_BODY)))
        self.end_headers()
        try:
            for index in range(len(_BODY)):
                if self.server.stopping.is_set():  # type: ignore[attr-defined]
                    break
                self.wfile.write(_BODY[index:index + 1])
                self.wfile.flush()
                time.sleep(1.0)
        except OSError:  # the client gave up
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def trickling_mirror() -> Iterator[str]:
    """An http:// mirror URL whose every file arrives at one byte per second."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def hold() -> None:
        listener.settimeout(0.1)
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=5)
        for connection in accepted:
            connection.close()
        listener.close()


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"true"
        self.send_response(200 if self.path.endswith("/health") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def healthy_api() -> Iterator[tuple[str, Callable[[], None]]]:
    """``(url, stop)``: an API URL whose ``/health`` answers 200 until ``stop()``, after which
    nothing listens there."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()

    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api", stop
    finally:
        stop()


def dead_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    serving = trickling_mirror() if sys.argv[1:] == ["trickle"] else silent_port()
    with serving as where:
        print(where, flush=True)
        threading.Event().wait()
