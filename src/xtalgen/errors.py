"""The project's own errors: the ones a user fixes from the message alone.

The command line prints these (and the few library errors it translates on purpose) as one line; any
other exception is a bug and keeps its traceback. A message names a setting through ``setting``: its
config key under the workflow, its flag under the command line, because each setting here knows
both names. Each subclasses the built-in error it refines, so
callers that catch ``ValueError`` or ``RuntimeError`` keep working.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "SETTINGS",
    "InputError",
    "UnavailableError",
    "XtalgenError",
    "command_line_terms",
    "in_terms",
    "named_as_flags",
    "setting",
    "setting_value",
]


class XtalgenError(Exception):
    """An error whose message names the file, row, key or flag to fix, and says how."""


class InputError(XtalgenError, ValueError):
    """A file, value or setting the user gave cannot be used as given."""


class UnavailableError(XtalgenError, RuntimeError):
    """Something the run needs (a model, a dataset, a service, a free output) is not there."""


# What a message calls a setting depends on where the user set it: the workflow's config key, or the
# xtalgen command's flag. The command line switches this for the length of a command.
_TERMS: ContextVar[str] = ContextVar("xtalgen_terms", default="config")

# Each setting a message names: its config key and the flag that sets it on the command line (None:
# no command sets it, so the key is the name everywhere).
SETTINGS: dict[str, str | None] = {
    "data.local_dir": "--dataset",
    "data.url": "--url",
    "data.sha256": "--sha256",
    "data.strict": "--strict",
    "data.max_rows": "--max-rows",
    "model.base": "--base",
    "finetune.lora.target_modules": "--target-modules",
    "finetune.max_length": "--max-length",
    "finetune.max_steps": "--max-steps",
    "sample.elements": "--elements",
    "sample.max_sites": "--max-sites",
    "prescreen.model": "--model",
    "prescreen.aggregation": "--aggregation",
    "prescreen.max_model_error": "--max-error",
    "prescreen.max_sites": "--max-sites",
    "hull.reference": None,
    "hull.elemental_refs": "--elemental-refs",
    "hull.entries": "--entries",
    "hull.cache_dir": "--cache-dir",
    "dft.maker": "--maker",
    "dft.incar_overrides": "--incar",
    "dft.launchpad": "--launchpad",
    "dft.store": "--store",
    "dft.potcar_dir": "--potcar-dir",
}


def command_line_terms() -> bool:
    """Whether messages now name flags (a command run by hand) rather than config keys."""
    return _TERMS.get() == "cli"


@contextmanager
def named_as_flags() -> Iterator[None]:
    """Within the block, messages name each setting by its flag."""
    token = _TERMS.set("cli")
    try:
        yield
    finally:
        _TERMS.reset(token)


def setting(key: str) -> str:
    """The name of the setting ``key`` as the user set it: its config key, or its flag."""
    if key not in SETTINGS:
        raise KeyError(f"{key} is not a setting that messages name; add it to xtalgen.errors.SETTINGS")
    flag = SETTINGS[key]
    return flag if flag and command_line_terms() else key


def setting_value(key: str, value: object) -> str:
    """``key: value`` as a config file writes it, or ``--flag value`` as a command line does."""
    name = setting(key)
    return f"{name} {value}" if name.startswith("--") else f"{name}: {value}"


def in_terms(config: str, command_line: str) -> str:
    """One of two wordings, for advice whose action differs between a config file and a command."""
    return command_line if command_line_terms() else config
