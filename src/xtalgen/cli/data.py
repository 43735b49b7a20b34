"""``xtalgen data prepare`` (the data stage) and ``xtalgen data corpus`` (the tiny base's corpus)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_formula_style, add_group, add_setting
from xtalgen.dataset.settings import PrepareSettings
from xtalgen.errors import InputError

FORMULA_STYLE_HELP = (
    "how conditional prompts state the formula: reduced (the paper's) or cell (the cell's contents in "
    "site order, no parentheses)"
)

if TYPE_CHECKING:
    import argparse

__all__ = ["add_data"]

# CDVAE's MP-20 folder (as xtalgen.dataset.sources.CDVAE_MP20_URL; repeated so --help imports nothing
# heavy).
MP20_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20"


def add_data(commands: argparse._SubParsersAction) -> None:
    """``xtalgen data prepare`` and ``xtalgen data corpus``."""
    verbs = add_group(commands, "data", "the data stage: dataset splits to structures and prompt records")
    _add_corpus(verbs)
    parser = add_command(
        verbs,
        "prepare",
        _run_data_prepare,
        "CSV splits -> structures tables, prompt records and rejects",
        "Run the data stage: for each split write OUT/<split>/structures.csv, prompts.jsonl, "
        "rejects.csv and summary.json.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        type=Path,
        help="folder holding <split>.csv or <split>.csv.gz (default: none, give --url)",
    )
    source.add_argument(
        "--url", help=f"download <url>/<split>.csv into the cache instead (default: none; MP-20: {MP20_URL})"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"], help="splits to prepare")
    parser.add_argument(
        "--sha256",
        action="append",
        default=[],
        metavar="SPLIT=HEX",
        help="expected checksum of a downloaded split, repeatable (default: MP-20's for its URL, else none)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="download cache (default: $XTALGEN_CACHE, else ~/.cache/xtalgen)",
    )
    add_setting(parser, "--seed", PrepareSettings, "seed", type=int)
    add_setting(parser, "--copies", PrepareSettings, "copies", type=int)
    add_setting(parser, "--augment-splits", PrepareSettings, "augment_splits", nargs="+")
    add_setting(parser, "--no-translate", PrepareSettings, "translate", action="store_false")
    add_setting(parser, "--infill-fraction", PrepareSettings, "infill_fraction", type=float)
    add_formula_style(parser, FORMULA_STYLE_HELP)
    add_setting(parser, "--max-rows", PrepareSettings, "max_rows", type=int)
    add_setting(parser, "--strict", PrepareSettings, "strict", action="store_true")
    # The command uses every core it has; the settings' default of 1 is the library's.
    add_setting(parser, "--workers", PrepareSettings, "workers", type=int, default=os.cpu_count() or 1)


def _checksums(items: list[str], url: str | None) -> dict[str, str | None] | None:
    from xtalgen.dataset.sources import CDVAE_MP20_SHA256, CDVAE_MP20_URL  # noqa: PLC0415

    given: dict[str, str | None] = {}
    for item in items:
        split, sep, digest = item.partition("=")
        if not sep or not split or not digest:
            raise InputError(f"--sha256 {item!r}: write SPLIT=HEX, e.g. train=133bab58...")
        given[split] = digest
    if given:
        return given
    return CDVAE_MP20_SHA256 if url == CDVAE_MP20_URL else None


def _run_data_prepare(args: argparse.Namespace) -> int:
    from xtalgen.dataset.prepare import prepare_dataset  # noqa: PLC0415
    from xtalgen.dataset.sources import DatasetUnavailableError, resolve_split  # noqa: PLC0415

    if args.dataset is None and args.url is None:
        raise DatasetUnavailableError("give --dataset DIR (a local folder) or --url URL")
    settings = PrepareSettings(
        seed=args.seed,
        copies=args.copies,
        translate=args.translate,
        augment_splits=tuple(args.augment_splits),
        infill_fraction=args.infill_fraction,
        formula_style=args.formula_style,
        strict=args.strict,
        max_rows=args.max_rows,
        workers=args.workers,
    )
    checksums = _checksums(args.sha256, args.url)
    sources = {
        split: resolve_split(
            split, local_dir=args.dataset, url=args.url, sha256=checksums, cache_dir=args.cache_dir
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


def _add_corpus(verbs: argparse._SubParsersAction) -> None:
    parser = add_command(
        verbs,
        "corpus",
        _run_data_corpus,
        "the tiny base's pretraining corpus: training records plus extra rows",
        "Writes OUT/prompts.jsonl (the training records plus records of the --extra rows, minus any id "
        "in the --held-out tables), OUT/structures.csv (the extra structures used) and OUT/summary.json.",
    )
    parser.add_argument("--records", type=Path, required=True, help="the training split's prompts.jsonl")
    parser.add_argument("--extra", type=Path, nargs="+", required=True, help="MP-20-style CSV files")
    parser.add_argument(
        "--held-out",
        type=Path,
        nargs="*",
        default=[],
        help="structures tables of ids to leave out",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--tasks",
        choices=["all", "generation"],
        default="all",
        help="generation: leave infill records out, for LoRA to teach",
    )
    add_setting(parser, "--seed", PrepareSettings, "seed", type=int)
    add_setting(parser, "--infill-fraction", PrepareSettings, "infill_fraction", type=float)
    add_formula_style(parser, FORMULA_STYLE_HELP)
    add_setting(parser, "--workers", PrepareSettings, "workers", type=int, default=os.cpu_count() or 1)


def _run_data_corpus(args: argparse.Namespace) -> int:
    from xtalgen.dataset.corpus import pretraining_corpus  # noqa: PLC0415

    settings = PrepareSettings(
        seed=args.seed,
        infill_fraction=args.infill_fraction,
        formula_style=args.formula_style,
        workers=args.workers,
    )
    summary = pretraining_corpus(
        args.records, args.extra, args.held_out, args.out, settings=settings, tasks=args.tasks
    )
    print(f"{summary['records']} records, {summary['extra_structures']} extra structures -> {args.out}")
    return 0
