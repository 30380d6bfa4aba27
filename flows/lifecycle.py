"""How a command starts and stops: the Prefect API is checked first, SIGTERM acts as Ctrl-C,
and every stop is bounded and leaves no process behind.

    with guarded_run(interrupted="finished stages are kept, rerun to resume"):
        result = flow(config)

* **API check.** A ``PREFECT_API_URL`` where nothing listens, or a server that accepts and never
  answers, is one :class:`ConfigError` within ``API_CHECK_SECONDS`` instead of minutes of
  client retries and tracebacks.
* **SIGTERM** (``kill``, ``docker stop``, systemd, Kubernetes) raises KeyboardInterrupt, so it
  unwinds exactly as Ctrl-C does: temporary files removed, one line on stderr, exit 130, and
  Prefect's temporary server stopped by its own exit hook. Inside a flow run Prefect's handler
  runs first (it marks the run crashed) and then hands the signal back to ours.
* **Hard stop.** Reporting the crash can wait on an API that is gone (a signal sent to the
  whole process group kills Prefect's temporary server first, and its client then retries for
  over a minute). A watcher thread notified of every signal through Python's wakeup fd, which
  no Python-level handler swap affects, ends the process ``GRACE_SECONDS`` after the first
  SIGINT or SIGTERM if it is still alive: it stops our child processes (the temporary
  server, Dask workers), prints the same line and exits with the same status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from types import FrameType

import httpx
import psutil
from prefect.exceptions import TerminationSignal
from prefect.settings import PREFECT_API_URL

from tasks.core.errors import ConfigError

API_CHECK_SECONDS = 5.0
GRACE_SECONDS = 10.0
INTERRUPTED_STATUS = 130
_STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def guarded_run(*, interrupted: str, status: int = INTERRUPTED_STATUS) -> Iterator[None]:
    """Check the Prefect API, then run the block with SIGTERM as Ctrl-C and a hard stop.

    ``interrupted`` completes the line ``interrupted; ...`` that the hard stop prints (the
    caller prints it on the ordinary path); ``status`` is the exit status it uses.
    """
    check_api()
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; nothing to guard here
        return
    watcher = _SignalWatcher(f"interrupted; {interrupted}", status)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with watcher:
            yield
    except TerminationSignal:  # Prefect's own, should it not hand the signal back
        raise KeyboardInterrupt from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def check_api(url: str | None = None) -> None:
    """The configured Prefect API answers its health check within ``API_CHECK_SECONDS``.

    Nothing to check when no API is set (Prefect starts its temporary server). Raises
    ConfigError naming the URL and what to do.
    """
    url = url if url is not None else PREFECT_API_URL.value()
    if not url:
        return
    health = str(url).rstrip("/") + "/health"
    try:
        # Plain http needs no certificates: loading them costs every run ~0.1 s.
        response = httpx.get(health, timeout=API_CHECK_SECONDS,
                             verify=health.lower().startswith("https:"))
        problem = None if response.status_code == 200 else f"answered HTTP {response.status_code}"
    except httpx.TimeoutException:
        problem = f"did not answer within {API_CHECK_SECONDS:.0f} s"
    except httpx.ConnectError as error:
        problem = f"refused the connection or cannot be reached ({error})"
    except (httpx.HTTPError, ValueError) as error:  # not a URL, a scheme httpx cannot speak
        problem = f"cannot be used ({type(error).__name__}: {error})"
    if problem:
        raise ConfigError(
            f"the Prefect API at {url} (PREFECT_API_URL) {problem}. Start that server "
            f"(`prefect server start`), point PREFECT_API_URL at a running one, or unset it to "
            f"let the run start a temporary local server")


class _SignalWatcher:
    """A daemon thread that sees every signal (wakeup fd) and enforces the hard stop."""

    def __init__(self, line: str, status: int) -> None:
        self.line, self.status = line, status
        self.done, self.counting = threading.Event(), threading.Event()
        self.reader, self.writer = socket.socketpair()

    def __enter__(self) -> _SignalWatcher:
        self.writer.setblocking(False)
        self.previous_fd = signal.set_wakeup_fd(self.writer.fileno(), warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="mnist-flow-stop-watch", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.counting.is_set():
            return  # stopping: the bound also covers the exit hooks that run after the block
        signal.set_wakeup_fd(self.previous_fd)
        self.done.set()
        with contextlib.suppress(OSError):
            self.writer.send(b"\0")  # wake the watcher so it sees `done`
        self.writer.close()

    def _watch(self) -> None:
        while not self.done.is_set():
            try:
                received = self.reader.recv(64)
            except OSError:
                return
            if not received or self.done.is_set():
                break
            if any(byte in _STOPPING for byte in received):
                self.counting.set()
                if not self.done.wait(GRACE_SECONDS):
                    self._hard_stop()
                break
        self.reader.close()

    def _hard_stop(self) -> None:
        stop_children()
        print(self.line, file=sys.stderr, flush=True)
        os._exit(self.status)


def stop_children(grace: float = 3.0) -> None:
    """Terminate every descendant process, then kill those still alive after ``grace`` s."""
    with contextlib.suppress(psutil.Error):
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=grace)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
