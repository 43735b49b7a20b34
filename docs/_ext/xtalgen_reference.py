"""Writes the configuration and command-line references before Sphinx reads any page.

Both are generated, so they cannot drift: the configuration reference from ``config.schema.yaml``
(type, default and description of every key) beside the value the embedded ``config.yaml`` sets, and
the command-line reference from the parser that ``xtalgen`` itself runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from sphinx.application import Sphinx

REPO = Path(__file__).resolve().parents[2]


def _shown(value: Any) -> str:
    if value is None:
        return "`null`"
    text = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text != "" else '`""`'


def _type(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    text = " or ".join(str(k) for k in kinds)
    if "enum" in spec:
        text = (text + ", " if text else "") + "one of " + ", ".join(_shown(v) for v in spec["enum"])
    return text or "any"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(
    properties: dict[str, Any], embedded: Any, prefix: str = ""
) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for name, spec in properties.items():
        key = f"{prefix}{name}"
        value = embedded.get(name, "(not set)") if isinstance(embedded, dict) else "(not set)"
        if spec.get("type") == "object" and "properties" in spec:
            rows.append((key, "object", "", "", _cell(spec.get("description", ""))))
            rows += _rows(spec["properties"], value if isinstance(value, dict) else {}, key + ".")
            continue
        default = spec.get("default", None)
        differs = value not in ("(not set)", default)
        rows.append(
            (
                key,
                _type(spec),
                _shown(default),
                _shown(value) if differs else "",
                _cell(spec.get("description", "")),
            )
        )
    return rows


def configuration_page(schema: dict[str, Any], embedded: dict[str, Any]) -> str:
    """Every key of the schema as a table row, with the embedded config's value where it differs."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `config.schema.yaml` when the manual is built. *Default* is the schema's default, "
        "which a key takes when no config file sets it; *embedded* is the value the embedded "
        "`config.yaml` (the main job's small 2-core run) sets instead, where it differs.",
        "",
        _cell(schema.get("description", "")),
    ]
    top = schema["properties"]
    for section, spec in top.items():
        lines += ["", f"## `{section}`", ""]
        if spec.get("description"):
            lines += [_cell(spec["description"]), ""]
        lines += ["| key | type | default | embedded | meaning |", "|---|---|---|---|---|"]
        if spec.get("type") == "object" and "properties" in spec:
            rows = _rows(spec["properties"], embedded.get(section, {}), section + ".")
        else:
            rows = _rows({section: spec}, embedded)
        lines += [f"| `{k}` | {t} | {d} | {e} | {m} |" for k, t, d, e, m in rows]
    return "\n".join(lines) + "\n"


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for noun, group in action.choices.items():
                for sub in group._actions:
                    if isinstance(sub, argparse._SubParsersAction):
                        out += [(f"{noun} {verb}", verb_parser) for verb, verb_parser in sub.choices.items()]
    return out


def cli_page(parser: argparse.ArgumentParser) -> str:
    """``xtalgen --help`` and every command's ``--help``, as the installed command prints them."""
    lines = [
        "# Command-line reference",
        "",
        "Generated from the `xtalgen` parser when the manual is built: each block is what "
        "`xtalgen NOUN VERB --help` prints.",
        "",
        "## `xtalgen`",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    for name, command in _commands(parser):
        lines += ["", f"## `xtalgen {name}`", "", "```text", command.format_help().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _write_if_changed(path: Path, text: str) -> None:
    """Rewriting an unchanged page would make Sphinx reread it (and everything linking it) each build."""
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def generate(app: Sphinx) -> None:
    """Sphinx's builder-inited hook: write both references into the source folder."""
    import os  # noqa: PLC0415

    from xtalgen.cli import build_parser  # noqa: PLC0415

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps help at the terminal's width
    out = Path(app.srcdir) / app.config.xtalgen_reference_out
    schema = yaml.safe_load((REPO / "config.schema.yaml").read_text())
    embedded = yaml.safe_load((REPO / "config.yaml").read_text())
    _write_if_changed(out / "configuration.md", configuration_page(schema, embedded))
    _write_if_changed(out / "cli.md", cli_page(build_parser()))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the hook and its setting."""
    app.add_config_value("xtalgen_reference_out", "reference", "env")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "version": "1"}
