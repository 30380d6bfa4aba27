"""How a command starts and stops: the Prefect API is checked first, SIGTERM acts as Ctrl-C,
losing the API ends the run without losing its work, and every stop is bounded and leaves no
process behind.

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
* **Losing the server.** Tasks need no API to compute (Prefect 3 orchestrates them in-process,
  their records are local files, and our dashboard calls are best-effort:
  :mod:`tasks.dashboard`), but a flow run's own state changes do, and Prefect's client retries
  a vanished server for minutes. A watcher thread probes the API's health; once it has not
  answered for ``LOST_AFTER_SECONDS``, the run ends as soon as no task is running (a stage's
  compute is never cut short, its outputs and record are kept): child processes stopped, one
  line ``error: lost the Prefect server at URL; <what was kept>``, exit 2.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

import httpx
import psutil
from prefect.exceptions import TerminationSignal
from prefect.settings import PREFECT_API_URL

from tasks.core.errors import ConfigError, MnistFlowError
from tasks.dashboard import mark_server_lost

API_CHECK_SECONDS = 5.0
GRACE_SECONDS = 10.0
INTERRUPTED_STATUS = 130
# The server counts as lost when its /health has not answered for this long (and three probes
# in a row failed): longer than a loaded machine starves it, short enough that the run ends
# well within 30 s of the loss (a probe that hangs gives up after PROBE_TIMEOUT_SECONDS).
LOST_AFTER_SECONDS = 10.0
PROBE_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 3.0
LOST_STATUS = 2
# How often a lost run looks for the end of the running task: stages follow each other within
# a fraction of a second, and the next one should not start.
IDLE_POLL_SECONDS = 0.05
_STOPPING = (signal.SIGINT, signal.SIGTERM)


class ServerLostError(MnistFlowError):
    """The Prefect server the run reports to went away during the run."""


@contextlib.contextmanager
def guarded_run(*, interrupted: str, status: int = INTERRUPTED_STATUS,
                lost: str | None = None) -> Iterator[None]:
    """Check the Prefect API, then run the block with SIGTERM as Ctrl-C, a hard stop, and a
    watch on the API.

    ``interrupted`` completes the line ``interrupted; ...`` that the hard stop prints (the
    caller prints it on the ordinary path); ``status`` is the exit status it uses. ``lost``
    completes ``error: lost the Prefect server at URL; ...`` (default: ``interrupted``).
    """
    check_api()
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; nothing to guard here
        return
    url = PREFECT_API_URL.value()
    lost_message = f"lost the Prefect server at {url}; {lost or interrupted}"
    watcher = _SignalWatcher(f"interrupted; {interrupted}", status)
    api_watch = _ApiWatch(url, f"error: {lost_message}") if url else contextlib.nullcontext()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with watcher, api_watch:
            yield
    except TerminationSignal:  # Prefect's own, should it not hand the signal back
        raise KeyboardInterrupt from None
    except httpx.TransportError:  # Prefect's client gave up before the watch ended the run
        if url and not api_answers(url):
            raise ServerLostError(lost_message) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def api_answers(url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """The API at ``url`` answers its health check within ``timeout`` seconds."""
    health = str(url).rstrip("/") + "/health"
    try:
        return httpx.get(health, timeout=timeout,
                         verify=health.lower().startswith("https:")).status_code == 200
    except (httpx.HTTPError, ValueError):
        return False


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
        end_now(self.line, self.status)


class _ApiWatch:
    """A daemon thread that probes the API and, once the server is lost, ends the run at the
    first moment that cuts no task short (:func:`run_is_idle`). A server that answers again
    before then (a restart) lets the run go on."""

    def __init__(self, url: str, line: str) -> None:
        self.url, self.line = url, line
        self.done = threading.Event()

    def __enter__(self) -> _ApiWatch:
        threading.Thread(target=self._watch, name="mnist-flow-api-watch", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()

    def _watch(self) -> None:
        main = threading.main_thread().ident
        assert main is not None
        while self._wait_for_loss():
            _server_lost(True)
            probed = time.monotonic()
            while not self.done.wait(IDLE_POLL_SECONDS):
                if run_is_idle(main):
                    end_now(self.line, LOST_STATUS)
                if time.monotonic() - probed >= PROBE_SECONDS:
                    if api_answers(self.url):
                        _server_lost(False)
                        break  # back: watch again
                    probed = time.monotonic()

    def _wait_for_loss(self) -> bool:
        """Probe every PROBE_SECONDS; True once the server is lost, False when the run ends."""
        answered, failures = time.monotonic(), 0
        while not self.done.wait(PROBE_SECONDS):
            if api_answers(self.url):
                answered, failures = time.monotonic(), 0
                continue
            failures += 1
            if failures >= 3 and time.monotonic() - answered >= LOST_AFTER_SECONDS:
                return not self.done.is_set()
        return False


# Prefect has no public signal, across threads, that a task is running: the frames of its
# engines on a thread's stack are that signal (tests/hostile/test_server_loss.py checks them
# against a real run, so a Prefect release that renames them fails a test, not a user's run).
_FLOW_ENGINE = ("prefect.flow_engine",)
_TASK_ENGINE = ("prefect.task_engine",)
_AWAITING_TASKS = ("prefect.futures", "prefect_dask")
_CALLING_API = ("prefect.client.base",)  # where every API request and its retries run


def run_is_idle(main: int) -> bool:
    """Whether a flow run in this process can end now without cutting work short: no task is
    running in any thread and the main thread awaits no submitted task, or the main thread is
    itself blocked in a call to the API (which only the server's return would end).

    False when no flow is running here (``serve`` between runs: its runs are processes of
    their own)."""
    stacks = {ident: _modules(frame) for ident, frame in sys._current_frames().items()}
    main_stack = stacks.get(main, [])
    if not any(name.startswith(_FLOW_ENGINE) for name in main_stack):
        return False
    if any(name.startswith(_CALLING_API) for name in main_stack):
        return True
    if any(name.startswith(_AWAITING_TASKS) for name in main_stack):
        return False
    return not any(name.startswith(_TASK_ENGINE) for stack in stacks.values() for name in stack)


def _modules(frame: FrameType | None) -> list[str]:
    names = []
    while frame is not None:
        names.append(str(frame.f_globals.get("__name__", "")))
        frame = frame.f_back
    return names


def _server_lost(lost: bool) -> None:
    """While the server is lost, dashboard posts are skipped, and Prefect's background workers
    (logs, events), which would print an error per retry, are quiet: the run's one line says
    it all. A server that answers again undoes both."""
    mark_server_lost(lost)
    logging.raiseExceptions = not lost  # else Prefect's log worker prints "Error logging to API"
    for name in ("prefect.events.clients", "prefect._internal.concurrency", "prefect.client"):
        logging.getLogger(name).disabled = lost  # (the concurrency logger ignores levels)


def end_now(line: str, status: int) -> None:
    """End the process from any thread: stop our child processes, print ``line`` on stderr,
    exit with ``status`` (no unwinding: what it would wait on is gone or stuck)."""
    stop_children()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)
    os._exit(status)


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
