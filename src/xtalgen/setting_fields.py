"""Settings fields that carry their own help, so the command line's flags take default and help there.

A stage's settings dataclass is the one source of a setting's default and of the sentence that
explains it; ``xtalgen.cli.options.add_setting`` builds a flag from the field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["described", "field_default", "field_help"]


def described(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:
    """A dataclass field with its default and a one-line help text."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def _field(settings: type, name: str) -> dataclasses.Field:
    found = {f.name: f for f in dataclasses.fields(settings)}
    if name not in found:
        raise KeyError(f"{settings.__name__} has no setting {name!r}")
    return found[name]


def field_default(settings: type, name: str) -> Any:
    """The field's default; a tuple as a list, as a flag of several values gives it."""
    field = _field(settings, name)
    value = field.default_factory() if field.default is dataclasses.MISSING else field.default
    return list(value) if isinstance(value, tuple) else value


def field_help(settings: type, name: str) -> str:
    """The field's help text (empty when it has none)."""
    return _field(settings, name).metadata.get("help", "")
