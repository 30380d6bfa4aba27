"""Run the application on uvicorn: the socket bound first, protocol errors as one JSON line.

The socket is bound before uvicorn starts, so a port in use is one ``error:`` line (exit 2)
instead of uvicorn's log and exit 1. uvicorn stops gracefully on SIGTERM or Ctrl-C and then
raises the signal again, which the command turns into its ``interrupted;`` line and 130. The
h11 protocol is used (not httptools) for its header limit, and its refusals are JSON lines
like every other error: 431 for a request line and headers over the limit, 400 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from tasks.core.errors import ConfigError


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a malformed or oversized request with JSON."""

    def send_400_response(self, msg: str) -> None:
        pending, _ = self.conn.trailing_data
        limit = self.config.h11_max_incomplete_event_size or 0
        status, text = (
            (431, f"the request line and headers are over the limit of {limit:,} bytes")
            if limit and len(pending) > limit else (400, "malformed HTTP request"))
        body = json.dumps({"error": text}).encode()
        reason = b"Request Header Fields Too Large" if status == 431 else b"Bad Request"
        head = (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n" % (status, reason, len(body)))
        self.transport.write(head + body)
        self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; ConfigError (one line, exit 2) when the port is
    taken or the address is not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle's algorithm and delayed ACKs add 40 ms to every answer
    # (bench/bench_app.py: p50 44 ms with proto 0, under 10 ms with it).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as error:
        sock.close()
        why = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"cannot listen on {host}:{port} ({why}); pick another --port, or "
                          f"stop what uses it") from None
    sock.set_inheritable(True)
    return sock


def run(app: Starlette, sock: socket.socket, *, max_header_bytes: int,
        started: Callable[[str], None]) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl-C; ``started`` gets the URL once it
    accepts connections."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, http=JsonErrorH11Protocol, lifespan="off", log_level="warning",
                            h11_max_incomplete_event_size=max_header_bytes, access_log=False,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host

    async def serve() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            started(f"http://{shown}:{port}")
        await task

    asyncio.run(serve())
