"""Best-effort calls to the Prefect dashboard: progress bars, tables, reports, events.

The dashboard shows a run; it is not the run. Every call our tasks make to show something
there goes through :func:`post`, which never raises: a call that fails, or has not answered
within ``DEADLINE_SECONDS``, logs one warning and returns None, and the stage's work goes on.

Why a deadline and not just ``try``: Prefect's client retries a server that went away for
about a minute (``PREFECT_CLIENT_MAX_RETRIES`` 5, backoff 2 to 32 s) before it raises, and a
hung server holds a request for ``PREFECT_API_REQUEST_TIMEOUT`` (60 s). So the call runs in a
helper thread carrying the caller's Prefect context (an artifact still belongs to its task
run), and the caller waits at most the deadline; a call still retrying then is left to end on
its own in that daemon thread, its outcome dropped. Once the run's watch on the API
(:mod:`flows.lifecycle`) has found the server lost, posts are skipped at once (the run's last
line says why) until it answers again.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

DEADLINE_SECONDS = 5.0

_fallback_logger = logging.getLogger(__name__)
# A fact about the process, not a setting: the one Prefect API it reports to is gone.
_server_lost = threading.Event()


def mark_server_lost(lost: bool = True) -> None:
    """Skip every later post (``lost``), or post again (the server answers again)."""
    if lost:
        _server_lost.set()
    else:
        _server_lost.clear()


def post(what: str, call: Callable[..., T], *args: Any, deadline: float = DEADLINE_SECONDS,
         **kwargs: Any) -> T | None:
    """``call(*args, **kwargs)``, or None and one warning naming ``what`` (e.g. "the metrics
    table") when it raises or does not return within ``deadline`` seconds; None at once while
    the server is known to be lost (:func:`mark_server_lost`)."""
    if _server_lost.is_set():
        return None
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["value"] = call(*args, **kwargs)
        except Exception as error:  # whatever the client raises, the run goes on
            outcome["error"] = error

    helper = threading.Thread(target=contextvars.copy_context().run, args=(attempt,),
                              name=f"mnist-flow-dashboard-{what}", daemon=True)
    helper.start()
    helper.join(deadline)
    if "value" in outcome:
        return outcome["value"]
    error = outcome.get("error")
    reason = (f"{type(error).__name__}: {error}" if error is not None
              else f"no answer within {deadline:g} s")
    _logger().warning("the Prefect dashboard did not take %s (%s); the run goes on without it",
                      what, reason)
    return None


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside a flow or task run (the warning belongs to it), else ours."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback_logger
