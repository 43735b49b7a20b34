"""Configuration errors that name the key and say what is allowed, before any job starts.

Snakemake's ``validate`` is the one schema validator: it checks the configuration against
``config.schema.yaml`` and fills in the defaults. This module words its error as a config key and
what is allowed there (``describe_schema_error``), reads ``--config`` text as the schema's types
before it runs (``coerce_overrides``), and afterwards checks what no schema can say
(``check_config``: NaN and infinity, and settings that are valid alone but not together).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import yaml

from xtalgen.errors import XtalgenError

if TYPE_CHECKING:
    from pathlib import Path

    import jsonschema

__all__ = ["ConfigError", "check_config", "coerce_overrides", "describe_schema_error"]


class ConfigError(XtalgenError, ValueError):
    """A configuration value or key is not allowed by the schema."""


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def describe_schema_error(error: jsonschema.ValidationError) -> str:
    """The schema's verdict as the config key it concerns and what is allowed there."""
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


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _coerced(value: str, types: set[str]) -> Any:
    """``value`` as the schema's number, integer, boolean or null when it reads as one, else as is."""
    if "string" in types and not ({"null"} & types and value.strip().lower() in {"null", "none", "~"}):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    fits = {
        "integer": isinstance(parsed, int) and not isinstance(parsed, bool),
        "number": isinstance(parsed, (int, float)) and not isinstance(parsed, bool),
        "boolean": isinstance(parsed, bool),
        "null": parsed is None,
    }
    return parsed if any(fits.get(t, False) for t in types) else value


def coerce_overrides(config: dict[str, Any], schema_path: Path) -> dict[str, Any]:
    """Give ``snakemake --config`` values the schema's types, in place.

    Snakemake passes ``--config 'sample={temperature: 0.9}'`` on as the string '0.9'; the schema
    says which keys hold numbers, booleans or null, so those strings are read as such.
    """
    schema = yaml.safe_load(schema_path.read_text())

    def walk(node: Any, spec: dict[str, Any]) -> Any:
        if isinstance(node, dict):
            props = spec.get("properties", {})
            for key, value in node.items():
                if key in props:
                    node[key] = walk(value, props[key])
            return node
        if isinstance(node, list) and isinstance(spec.get("items"), dict):
            return [walk(v, spec["items"]) for v in node]
        if isinstance(node, str):
            return _coerced(node, _types(spec))
        return node

    return walk(config, schema)


def _non_finite(node: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Keys holding NaN or infinity: a threshold of NaN compares false with everything, silently."""
    if isinstance(node, dict):
        return [m for key, value in node.items() for m in _non_finite(value, (*path, str(key)))]
    if isinstance(node, list):
        return [m for i, value in enumerate(node) for m in _non_finite(value, (*path, str(i)))]
    if isinstance(node, float) and not math.isfinite(node):
        return [f"config key {'.'.join(path)}: {node} is not a finite number; give a number"]
    return []


def check_config(config: dict[str, Any]) -> None:
    """Raise one :class:`ConfigError` listing every problem the schema cannot see, each with its key."""
    messages = _non_finite(config) + _combinations(config)
    if messages:
        lines = "\n".join(f"  - {m}" for m in messages)
        raise ConfigError(f"the configuration cannot run:\n{lines}")
