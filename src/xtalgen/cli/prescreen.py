"""The verification commands: ``hull build``, ``prescreen run``, ``prescreen validate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_group, add_setting
from xtalgen.hull.flags import RatingSettings
from xtalgen.hull.settings import MP_ENTRIES_MD5, HullSettings
from xtalgen.prescreen.settings import GateSettings, PrescreenSettings, RelaxSettings, SelectionSettings

if TYPE_CHECKING:
    import argparse

__all__ = ["add_hull", "add_prescreen"]


def add_hull(commands: argparse._SubParsersAction) -> None:
    """``xtalgen hull build``."""
    parser = add_command(
        add_group(commands, "hull", "the reference convex hull"),
        "build",
        _run_hull_build,
        "build and save the reference convex hull",
        "Rebuild MP's hull over a dataset's phases (--dataset with --elemental-refs), build it from "
        "a JSON(.gz) file of MP ComputedStructureEntries (--entries), or fetch the candidates' "
        "chemical systems from the Materials Project API (--mp-api STRUCTURES, key in MP_API_KEY, "
        "cached per chemical system).",
    )
    parser.add_argument(
        "--dataset", type=Path, nargs="+", help="MP-20 folder(s) or CSV files (default: none)"
    )
    # A command names its source by the flag it gives, so no source has a default here.
    add_setting(
        parser,
        "--elemental-refs",
        HullSettings,
        "elemental_refs",
        type=Path,
        default=None,
        help="with --dataset (default: none)",
    )
    add_setting(
        parser,
        "--entries",
        HullSettings,
        "entries",
        default=None,
        help="instead of --dataset (default: none)",
    )
    add_setting(
        parser,
        "--entries-checksum",
        HullSettings,
        "entries_checksum",
        default=None,
        help=f"(default: none; the default file's is {MP_ENTRIES_MD5})",
    )
    parser.add_argument(
        "--mp-api",
        type=Path,
        metavar="STRUCTURES",
        help="ask the MP API for these candidates' chemical systems instead (default: none)",
    )
    add_setting(parser, "--cache-dir", HullSettings, "cache_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="hull file (.json.gz)")
    parser.add_argument(
        "--info", type=Path, help="JSON naming the hull: reference, sources, entries, SHA-256 (default: none)"
    )


def _potential_options(parser: argparse.ArgumentParser) -> None:
    add_setting(parser, "--model", PrescreenSettings, "model")
    add_setting(
        parser, "--aggregation", PrescreenSettings, "aggregation", choices=["auto", "destination", "source"]
    )


def add_prescreen(commands: argparse._SubParsersAction) -> None:
    """``xtalgen prescreen run`` and ``xtalgen prescreen validate``."""
    verbs = add_group(commands, "prescreen", "the M3GNet prescreen: accuracy gate, relaxation, E_hull")
    run = add_command(
        verbs,
        "run",
        _run_prescreen,
        "relax structures with M3GNet and rate them against the hull",
        "Pre-filter, relax, MP2020-correct and rate every structure; writes OUT, OUT's "
        ".metastable.csv and .flagged.csv, and a journal of relaxations (OUT.journal.jsonl) that a "
        "rerun resumes from, with the same or another --hull. Check the potential first with "
        "`xtalgen prescreen validate`.",
    )
    run.add_argument(
        "--structures", type=Path, required=True, help="CSV with a cif column, a CIF folder, or extxyz"
    )
    run.add_argument("--hull", type=Path, required=True, help="file of `xtalgen hull build`")
    run.add_argument("--out", type=Path, required=True, help="per-structure results CSV")
    run.add_argument("--max-structures", type=int, help="rate only the first N structures (default: all)")
    add_setting(run, "--min-sites", PrescreenSettings, "min_sites", type=int)
    add_setting(run, "--max-sites", PrescreenSettings, "max_sites", type=int)
    add_setting(run, "--workers", PrescreenSettings, "workers", type=int)
    add_setting(run, "--threads", PrescreenSettings, "threads", type=int)
    add_setting(run, "--fmax", RelaxSettings, "fmax", type=float)
    add_setting(run, "--steps", RelaxSettings, "steps", type=int)
    add_setting(run, "--max-seconds", RelaxSettings, "max_seconds", type=float)
    add_setting(run, "--ehull-max", SelectionSettings, "ehull_max", type=float)
    add_setting(run, "--max-below-hull", RatingSettings, "max_below_hull", type=float)
    add_setting(run, "--keep-flagged", SelectionSettings, "keep_flagged", action="store_true")
    add_setting(run, "--keep-unconverged", SelectionSettings, "keep_unconverged", action="store_true")
    _potential_options(run)

    check = add_command(
        verbs,
        "validate",
        _run_prescreen_validate,
        "measure the potential against DFT ground states (the accuracy gate)",
        "Compute the MP2020-corrected formation energy of MP-20 ground states at their DFT geometry "
        "and fail when the median |error| exceeds --max-error.",
    )
    check.add_argument("--dataset", type=Path, nargs="+", required=True, help="MP-20 folder(s) or CSV files")
    check.add_argument("--elemental-refs", type=Path, required=True, help="MP elemental reference entries")
    check.add_argument("--out", type=Path, required=True, help="summary JSON")
    check.add_argument("--figure", type=Path, help="parity plot PNG (default: none)")
    add_setting(check, "--validation-size", GateSettings, "validation_size", type=int)
    add_setting(check, "--max-error", GateSettings, "max_model_error", type=float, dest="max_error")
    _potential_options(check)


def _run_hull_build(args: argparse.Namespace) -> int:
    from xtalgen.dataset.sources import resolve_file  # noqa: PLC0415
    from xtalgen.prescreen.stage import build_hull_file  # noqa: PLC0415

    entries = None
    if args.entries is not None:
        entries = resolve_file(args.entries, "--entries", args.cache_dir, args.entries_checksum)
    n = build_hull_file(
        args.out,
        dataset=args.dataset,
        elemental_refs=args.elemental_refs,
        entries=entries,
        mp_api_structures=args.mp_api,
        mp_api_cache=args.cache_dir,
        info=args.info,
        source=args.entries,
    )
    print(f"hull of {n} entries -> {args.out}")
    return 0


def _run_prescreen(args: argparse.Namespace) -> int:
    from xtalgen.hull.flags import is_flagged  # noqa: PLC0415
    from xtalgen.prescreen.shard import prescreen, select_metastable  # noqa: PLC0415
    from xtalgen.prescreen.stage import flagged_path, with_requests  # noqa: PLC0415
    from xtalgen.structures_io import read_structures  # noqa: PLC0415

    settings = PrescreenSettings(
        model=args.model,
        aggregation=args.aggregation,
        relax=RelaxSettings(fmax=args.fmax, steps=args.steps, max_seconds=args.max_seconds),
        min_sites=args.min_sites,
        max_sites=args.max_sites,
        workers=args.workers,
        threads=args.threads,
    )
    journal = args.out.with_name(args.out.name + ".journal.jsonl")
    structures = read_structures(args.structures)[: args.max_structures]
    rating = RatingSettings(max_below_hull=args.max_below_hull)
    table = prescreen(structures, args.hull, args.out, journal, settings, rating=rating)
    if args.structures.is_file() and args.structures.name.endswith((".csv", ".csv.gz")):
        table = with_requests(table, args.structures)
        table.to_csv(args.out, index=False)
    chosen = select_metastable(
        table, args.ehull_max, keep_flagged=args.keep_flagged, keep_unconverged=args.keep_unconverged
    )
    chosen.to_csv(args.out.with_name(args.out.stem + ".metastable.csv"), index=False)
    flagged = table[(table["status"] == "ok") & is_flagged(table)]
    flagged.to_csv(flagged_path(args.out), index=False)
    counts = table["status"].value_counts().to_dict()
    flags = flagged["flag"].value_counts().to_dict()
    print(
        f"{len(table)} structures {counts}; {len(flagged)} flagged {flags}; "
        f"{len(chosen)} with E_hull < {args.ehull_max}"
    )
    return 0


def _run_prescreen_validate(args: argparse.Namespace) -> int:
    from xtalgen.prescreen.stage import validate_potential_files  # noqa: PLC0415
    from xtalgen.report.figures import gate_figure  # noqa: PLC0415

    median = validate_potential_files(
        dataset=args.dataset,
        elemental_refs=args.elemental_refs,
        model=args.model,
        aggregation=args.aggregation,
        out_json=args.out,
        on_errors=gate_figure(args.figure),
        size=args.validation_size,
        max_error=args.max_error,
    )
    print(f"median |E_form error| {median:.4f} eV/atom <= {args.max_error}: passed")
    return 0
