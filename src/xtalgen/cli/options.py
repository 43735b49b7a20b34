"""What every command shares: help that shows defaults, common options, and errors in the CLI's terms."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pandas as pd

__all__ = [
    "HelpFormatter",
    "ListingFormatter",
    "add_command",
    "add_formula_style",
    "add_group",
    "add_setting",
    "command_listing",
    "read_csv_or_none",
]


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, so ``--help`` is the reference.

    An option whose default is None explains in its own help what None means; a switch is "off".
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.required or "default" in text:
            return text
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            return text
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            return f"{text} (default: off)"
        if action.default is None or action.default is argparse.SUPPRESS:
            return text
        default = action.default
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class ListingFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The top-level help: its description holds the listing of the commands, laid out as written."""


def command_listing(commands: argparse._SubParsersAction) -> str:
    """One line per registered 'noun verb' with its help text, in the order the stages add them."""
    rows = []
    for noun, group in commands.choices.items():
        for action in group._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                rows += [(f"{noun} {verb}", helps.get(verb) or "") for verb in action.choices]
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"  {name:<{width}}{text}" for name, text in rows) + "\n"


def add_group(commands: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """A noun (``xtalgen prescreen``) whose verbs are added to the returned action set."""
    group = commands.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
    return group.add_subparsers(dest="action", required=True, metavar="VERB")


def add_command(
    verbs: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help_text: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A verb (``xtalgen prescreen run``) that calls ``run`` with the parsed options."""
    parser = verbs.add_parser(
        name, help=help_text, description=description or help_text, formatter_class=HelpFormatter
    )
    parser.set_defaults(func=run)
    return parser


def add_formula_style(
    parser: argparse.ArgumentParser, help_text: str, default: str | None = "reduced"
) -> None:
    """``--formula-style``: how conditional prompts state the formula (xtalgen.text.prompts.FormulaStyle)."""
    parser.add_argument("--formula-style", choices=["reduced", "cell"], default=default, help=help_text)


def read_csv_or_none(path: Path | None) -> pd.DataFrame | None:
    """A CSV as a table, or None when no path was given."""
    if path is None:
        return None
    from xtalgen.io import read_csv  # noqa: PLC0415

    return read_csv(path)


def add_setting(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    settings: type,
    name: str,
    **kwargs: Any,
) -> argparse.Action:
    """A flag for field ``name`` of a stage's settings dataclass: its default and help come from there.

    A switch takes only the help: ``store_true`` turns the setting on, ``store_false`` (a ``--no-``
    flag) turns it off and stores into the field's name. ``help=`` adds to the field's text.
    """
    from xtalgen.setting_fields import field_default, field_help  # noqa: PLC0415

    text = field_help(settings, name)
    if kwargs.get("action") == "store_false":
        text = f"switch off: {text}" if text else ""
        kwargs.setdefault("dest", name)
    if "help" in kwargs:
        text = f"{text}; {kwargs.pop('help')}" if text else kwargs.pop("help")
    if kwargs.get("action") not in {"store_true", "store_false"}:
        kwargs.setdefault("default", field_default(settings, name))
    action = parser.add_argument(flag, help=text, **kwargs)
    action.setting = (settings, name)  # type: ignore[attr-defined]
    return action
