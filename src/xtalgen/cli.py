"""The ``xtalgen`` command: every stage of the workflow, runnable without Snakemake."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen import __version__
from xtalgen.data_prepare import PrepareSettings, prepare_dataset
from xtalgen.dataset import DatasetError
from xtalgen.sources import (
    CDVAE_MP20_SHA256,
    CDVAE_MP20_URL,
    DatasetUnavailableError,
    resolve_split,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

# Errors a user can fix from the message alone: printed without a traceback.
USER_ERRORS = (DatasetError, DatasetUnavailableError, FileNotFoundError, ValueError)


def _add_data_prepare(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "prepare",
        help="CSV splits -> structures tables, prompt records and rejects",
        description="Run the data stage: for each split write OUT/<split>/structures.csv, "
        "prompts.jsonl, rejects.csv and summary.json.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", type=Path, help="folder holding <split>.csv or <split>.csv.gz")
    source.add_argument(
        "--url",
        default=None,
        help=f"download <url>/<split>.csv into the cache instead (MP-20: {CDVAE_MP20_URL})",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--cache-dir", type=Path, default=None, help="download cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=int, default=1, help="prompt records per train structure")
    parser.add_argument(
        "--no-translate", action="store_true", help="no random-translation augmentation"
    )
    parser.add_argument("--infill-fraction", type=float, default=1.0 / 3.0)
    parser.add_argument("--max-rows", type=int, default=None, help="read only the first N rows")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad row")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.set_defaults(func=_run_data_prepare)


def _run_data_prepare(args: argparse.Namespace) -> int:
    if args.dataset is None and args.url is None:
        raise DatasetUnavailableError("give --dataset DIR (a local folder) or --url URL")
    settings = PrepareSettings(
        seed=args.seed,
        copies=args.copies,
        translate=not args.no_translate,
        infill_fraction=args.infill_fraction,
        strict=args.strict,
        max_rows=args.max_rows,
        workers=args.workers,
    )
    checksums = CDVAE_MP20_SHA256 if args.url == CDVAE_MP20_URL else None
    sources = {
        split: resolve_split(
            split,
            local_dir=args.dataset,
            url=args.url,
            sha256=checksums,
            cache_dir=args.cache_dir,
        )
        for split in args.splits
    }
    for summary in prepare_dataset(sources, args.out, settings):
        print(
            f"{summary.split}: {summary.structures} structures, {summary.rejects} rejected, "
            f"{summary.records} prompt records in {summary.seconds:.1f} s -> "
            f"{args.out / summary.split}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for documentation and tests."""
    parser = argparse.ArgumentParser(prog="xtalgen", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xtalgen {__version__}")
    stages = parser.add_subparsers(dest="command", required=True)
    data = stages.add_parser("data", help="the data stage").add_subparsers(
        dest="action", required=True
    )
    _add_data_prepare(data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except USER_ERRORS as err:
        print(f"xtalgen: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
