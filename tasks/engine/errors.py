"""The engine's user-facing errors (no Prefect, no project code).

:class:`UserError` is the one exception type an entry point turns into one ``error:`` line and
exit status 2; the project's own errors (:mod:`tasks.core.errors`) derive from it, so one
``except`` covers the engine and the pipeline alike.
"""

from __future__ import annotations


class UserError(Exception):
    """An error a user can act on; ``str(error)`` is the whole message."""


class OutputError(UserError):
    """An output cannot be written: the disk is full, or a folder is read-only or not ours."""
