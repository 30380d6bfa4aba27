"""The project's one user-facing error type.

Everything that goes wrong because of outside input (a file, a mirror, a parameter) raises
:class:`MnistFlowError` with a message that names the input, says what was expected and what
was found, and what to do. Entry points catch it, print the message and exit non-zero without
a traceback. Internal invariants use ``assert``.
"""

from __future__ import annotations


class MnistFlowError(Exception):
    """An error a user can act on; ``str(error)`` is the whole message."""


class DataError(MnistFlowError):
    """A dataset file or mirror is missing, unreachable, corrupt or malformed."""


class ConfigError(MnistFlowError):
    """A parameter or option has a value the pipeline cannot use."""


class TrainingDivergedError(MnistFlowError):
    """Training produced a non-finite loss; the message names the step and what to change."""


class WeightsError(MnistFlowError):
    """Exported weight files are missing or malformed."""


class OutputError(MnistFlowError):
    """An output cannot be written: the disk is full, or a folder is read-only or not ours."""
