"""Which Prefect API a run reports to, and keeping our errors' tracebacks out of its logs.

Imported only by subcommands that run flows (``run``, ``serve``, ``sweep``), after the entry
point has set the environment.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from tasks.core.errors import ConfigError, MnistFlowError

LOCAL_SERVER = "http://127.0.0.1:4200/api"


def local_server_settings() -> contextlib.AbstractContextManager[Any]:
    """Point Prefect at a local server when one answers: ~3 s per run instead of ~11 s, and
    every run in its dashboard (``prefect server start --background``).

    A user's own ``PREFECT_API_URL`` (environment or Prefect profile) wins; with none and no
    server, Prefect starts its temporary (ephemeral) one as usual.
    """
    if get_current_settings().api.url:
        return contextlib.nullcontext()
    try:
        with urllib.request.urlopen(LOCAL_SERVER + "/health", timeout=0.3) as response:
            if response.status == 200:
                return temporary_settings(updates={PREFECT_API_URL: LOCAL_SERVER})
    except OSError:
        pass
    check_prefect_home()
    return contextlib.nullcontext()


def check_prefect_home() -> None:
    """Prefect's temporary server keeps its SQLite database in PREFECT_HOME: it must be writable.

    Without this check an unwritable home costs ~25 s of server tracebacks before a timeout.
    """
    settings = get_current_settings()
    url = settings.server.database.connection_url
    if url is not None and not url.get_secret_value().startswith("sqlite"):
        return
    home = Path(settings.home)
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise ConfigError(
            f"the Prefect home {home} is not a writable folder ({error.strerror}); Prefect's "
            f"temporary server keeps its database there. Set PREFECT_HOME to a writable folder, "
            f"or PREFECT_API_URL to a running Prefect server") from None
    if url is not None:
        check_sqlite_file(Path(url.get_secret_value().partition(":///")[2]))


_SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(path: Path) -> None:
    """``path`` is absent, empty, or a SQLite database (read without blocking on a FIFO).

    Without this check a damaged database costs ~40 s and some 280 lines of tracebacks.
    """
    try:
        if not path.exists() or (path.is_file() and path.stat().st_size == 0):
            return
        header = b""
        if path.is_file():
            with open(path, "rb") as database:
                header = database.read(len(_SQLITE_HEADER))
    except OSError as error:
        header, reason = b"", error.strerror
    else:
        reason = "not a SQLite database"
    if header != _SQLITE_HEADER:
        raise ConfigError(
            f"Prefect's database {path} is {reason} (damaged, or replaced by another kind of "
            f"file); move it away and Prefect creates a new one (the dashboard's run history "
            f"is lost, the artifacts are not), or set PREFECT_API_URL to a running server")


def dashboard_url(flow_run_id: Any) -> str | None:
    """The flow run's page in the dashboard, when runs report to a server that outlives them
    (None under Prefect's temporary server, whose dashboard goes with it)."""
    from prefect.utilities.urls import url_for

    if not PREFECT_API_URL.value() or flow_run_id is None:
        return None
    return url_for("flow-run", obj_id=flow_run_id)


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a task's exception with its traceback; ours carry a complete message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], MnistFlowError):
            record.exc_info, record.exc_text = None, None
        return True


_NO_TRACEBACK_FOR_USER_ERRORS = _NoTracebackForUserErrors()


def quiet_user_error_tracebacks() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_NO_TRACEBACK_FOR_USER_ERRORS)  # added once
