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


# Makers whose energies MaterialsProject2020Compatibility refuses: r2SCAN runs cannot be rated on the
# GGA/GGA+U hull, so running them would end every candidate as failed at collection.
R2SCAN_MAKERS = ("MPMetaGGADoubleRelaxStaticMaker",)


def _combinations(config: dict[str, Any]) -> list[str]:
    """Problems no single key's schema can see: settings that are valid alone but not together."""
    dft = config.get("dft") or {}
    problems = []
    if dft.get("maker") in R2SCAN_MAKERS and dft.get("backend") in {"local", "fireworks"}:
        problems.append(
            f"config key dft.maker: {dft['maker']} computes r2SCAN energies, which "
            "MaterialsProject2020Compatibility refuses and the GGA/GGA+U hull cannot rate, so every "
            f"candidate would end failed at collection (dft.backend: {dft['backend']}). Choose "
            "dft.maker: MPGGADoubleRelaxStaticMaker, or dft.backend: prepare to write the r2SCAN "
            "inputs without running them"
        )
    return problems


def check_config(config: dict[str, Any], schema_path: Path) -> None:
    """Raise one :class:`ConfigError` listing every problem, each with its dotted key."""
    schema = yaml.safe_load(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    messages = [_describe(e) for e in errors] + _combinations(config)
    if messages:
        lines = "\n".join(f"  - {m}" for m in messages)
        raise ConfigError(
            f"the configuration does not match {schema_path.name}:\n{lines}\n"
            f"Every key is described in {schema_path}."
        )
