"""The project's own errors: the ones a user fixes from the message alone.

The command line prints these (and the few library errors it translates on purpose) as one line; any
other exception is a bug and keeps its traceback. Each subclasses the built-in error it refines, so
callers that catch ``ValueError`` or ``RuntimeError`` keep working.
"""

from __future__ import annotations

__all__ = ["InputError", "UnavailableError", "XtalgenError"]


class XtalgenError(Exception):
    """An error whose message names the file, row, key or flag to fix, and says how."""


class InputError(XtalgenError, ValueError):
    """A file, value or setting the user gave cannot be used as given."""


class UnavailableError(XtalgenError, RuntimeError):
    """Something the run needs (a model, a dataset, a service, a free output) is not there."""
