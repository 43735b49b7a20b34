"""The xtalgen command: every stage of the workflow, runnable without Snakemake.

Commands read noun then verb (``xtalgen prescreen run``); one module per stage builds its commands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen import __version__
from xtalgen.cli.data import add_data
from xtalgen.cli.dft import add_dft
from xtalgen.cli.evaluate import add_evaluate
from xtalgen.cli.lm import add_lm
from xtalgen.cli.options import ListingFormatter, command_listing
from xtalgen.cli.prescreen import add_hull, add_prescreen
from xtalgen.disk_full import disk_full_line, is_disk_full
from xtalgen.errors import XtalgenError, named_as_flags

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# Errors a user can fix from the message alone: printed as one line. The project's own errors
# (xtalgen.errors and its subclasses), and the OS errors that name their path themselves (a missing
# file, a folder given for a file or the reverse, a denied permission). A full disk is one line too,
# naming the path (exit status 1). Anything else is a bug and prints its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    XtalgenError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

DESCRIPTION = """\
xtalgen: crystal dataset -> fine-tuned language model -> generated crystals -> verified materials.
Every stage of the Snakemake workflow, runnable on its own. Run 'xtalgen NOUN VERB --help' for the
options of a command; each option's help shows its default.
"""

# Set by the workflow's rules that run this command: their errors then name config keys, as every
# other rule's do, instead of this command's flags.
WORKFLOW_TERMS = "XTALGEN_ERROR_TERMS"

# Commands that were renamed when the CLI became noun-then-verb, so an old script gets the new name.
RENAMED = {
    ("train", "tokenizer"): "tokenizer train",
    ("train", "tiny"): "tiny pretrain",
    ("train", "lora"): "lora train",
    ("prescreen-validate",): "prescreen validate",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for documentation and tests."""
    parser = argparse.ArgumentParser(
        prog="xtalgen",
        usage="%(prog)s [-h] [--version] NOUN VERB [options]",
        description=DESCRIPTION,
        formatter_class=ListingFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xtalgen {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="NOUN VERB", prog="xtalgen", help=argparse.SUPPRESS
    )
    add_data(commands)
    add_lm(commands)
    add_hull(commands)
    add_prescreen(commands)
    add_dft(commands)
    add_evaluate(commands)
    # The listing is read off the registered commands, so it cannot drift from them.
    parser.description = f"{DESCRIPTION}\nthe commands, stage by stage:\n{command_listing(commands)}"
    return parser


def _renamed(argv: list[str]) -> str | None:
    for old, new in RENAMED.items():
        if tuple(argv[: len(old)]) == old:
            return f"'xtalgen {' '.join(old)}' is now 'xtalgen {new}'"
    return None


# Commands whose --out is a folder; every other --out, --summary, --figure and --info is a file.
OUT_FOLDERS = {
    "_run_data_prepare",
    "_run_data_corpus",
    "_run_tokenizer_train",
    "_run_tiny_pretrain",
    "_run_lora_train",
    "_run_dft_prepare",
}


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse an unwritable output path before any work, not after hours of it."""
    from xtalgen.io import check_output  # noqa: PLC0415

    for name in ("out", "summary", "figure", "info"):
        path = getattr(args, name, None)
        if isinstance(path, Path):
            check_output(path, folder=name == "out" and args.func.__name__ in OUT_FOLDERS)


# Commands whose library call already holds the lock of their --out (the sampler's, for its journal).
SELF_LOCKED = {"_run_sample"}


def _command_lock(args: argparse.Namespace) -> contextlib.AbstractContextManager[object]:
    """One command per output: a second one on the same --out is refused, naming the holder's pid."""
    from xtalgen.io import output_lock  # noqa: PLC0415

    out = getattr(args, "out", None)
    if not isinstance(out, Path) or args.func.__name__ in SELF_LOCKED:
        return contextlib.nullcontext()
    return output_lock(out)


def _written_path(args: argparse.Namespace) -> Path | None:
    """The output a full disk is reported against when the failing write did not name its file."""
    path = getattr(args, "out", None)
    return path if isinstance(path, Path) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    hint = _renamed(argv)
    if hint:
        print(f"xtalgen: error: {hint}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    # Messages name each setting by its flag, unless a workflow rule runs the command: then by the
    # config key its user set.
    terms = contextlib.nullcontext() if os.environ.get(WORKFLOW_TERMS) == "config" else named_as_flags()
    with terms:
        try:
            _check_outputs(args)
            with _command_lock(args):
                return int(args.func(args))
        except USER_ERRORS as err:
            print(f"xtalgen: error: {err}", file=sys.stderr)
            return 2
        except Exception as err:
            written = _written_path(args)
            if not is_disk_full(err, written):
                raise
            print(f"xtalgen: error: {disk_full_line(err, written)}", file=sys.stderr)
            return 1
