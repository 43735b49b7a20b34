"""Configuration errors that name the key and say what is allowed, before any job starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ConfigError", "check_config"]


class ConfigError(ValueError):
    """A configuration value or key is not allowed by the schema."""


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        return f"config key {key}: unknown key(s) {', '.join(unknown)}; known keys here: {', '.join(known)}"
    description = error.schema.get("description", "")
    hint = f" ({description.strip()})" if description else ""
    return f"config key {key}: {error.message}{hint}"


def check_config(config: dict[str, Any], schema_path: Path) -> None:
    """Raise one :class:`ConfigError` listing every problem, each with its dotted key."""
    schema = yaml.safe_load(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n".join(f"  - {_describe(e)}" for e in errors)
        raise ConfigError(
            f"the configuration does not match {schema_path.name}:\n{lines}\n"
            f"Every key is described in {schema_path}."
        )
