"""The project's one user-facing error type.

Everything that goes wrong because of outside input (a file, a mirror, a parameter) raises
:class:`MnistFlowError` with a message that names the input, says what was expected and what
was found, and what to do. Entry points catch it, print the message and exit non-zero without
a traceback. Internal invariants use ``assert``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.engine.errors import OutputError, UserError

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["ConfigError", "DataError", "MnistFlowError", "OutputError", "TrainingDivergedError",
           "WeightsError", "describe_validation_error"]

# The engine's error type is the project's: the cache and the pointers raise it too.
MnistFlowError = UserError


class DataError(MnistFlowError):
    """A dataset file or mirror is missing, unreachable, corrupt or malformed."""


class ConfigError(MnistFlowError):
    """A parameter or option has a value the pipeline cannot use."""


class TrainingDivergedError(MnistFlowError):
    """Training produced a non-finite loss; the message names the step and what to change."""


class WeightsError(MnistFlowError):
    """Exported weight files are missing or malformed."""


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """A pydantic error as one line, each problem naming its field: ``train.lr: Input should
    be greater than 0 (got -1)``. ``prefix`` goes before every field path. The one formatter of
    validation errors, so a problem reads the same from the command line, a sweep or a form."""
    lines = []
    for problem in error.errors():
        where = prefix + ".".join(str(part) for part in problem["loc"]) if problem["loc"] else ""
        found = f" (got {problem['input']!r})" if problem["type"] != "missing" else ""
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}{found}" if where else message)
    return "; ".join(lines)
