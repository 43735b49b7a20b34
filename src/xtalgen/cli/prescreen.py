"""The verification commands: ``hull build``, ``prescreen run``, ``prescreen validate``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_group
from xtalgen.cli.options import default_of as _d
from xtalgen.prescreen.settings import PrescreenSettings, RelaxSettings

if TYPE_CHECKING:
    import argparse

__all__ = ["add_hull", "add_prescreen"]

MODEL = "M3GNet-MP-2021.2.8-PES"


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
    parser.add_argument(
        "--elemental-refs", type=Path, help="MP elemental reference entries, with --dataset (default: none)"
    )
    parser.add_argument(
        "--entries",
        help="JSON(.gz) of MP ComputedStructureEntries instead, a path or a URL downloaded once into "
        "--cache-dir; GGA and GGA+U entries only are kept, MP2020-corrected (default: none)",
    )
    parser.add_argument(
        "--entries-checksum",
        help="md5:<hex> or sha256:<hex> a downloaded --entries must match (default: none; "
        "Matbench Discovery's 2023-02-07 file: md5:76fc748db6b175bb80de4c276d27c235)",
    )
    parser.add_argument(
        "--mp-api",
        type=Path,
        metavar="STRUCTURES",
        help="ask the MP API for these candidates' chemical systems instead (default: none)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="MP API answer cache (default: $XTALGEN_CACHE, else ~/.cache/xtalgen)"
    )
    parser.add_argument("--out", type=Path, required=True, help="hull file (.json.gz)")
    parser.add_argument(
        "--info", type=Path, help="JSON naming the hull: reference, sources, entries, SHA-256 (default: none)"
    )


def _potential_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=MODEL, help="matgl model folder, or a name matgl loads online")
    parser.add_argument(
        "--aggregation",
        choices=["auto", "destination", "source"],
        default="auto",
        help="M3GNet message aggregation; auto restores it for pre-matgl-3.0 weights",
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
    run.add_argument(
        "--min-sites", type=int, default=_d(PrescreenSettings, "min_sites"), help="pre-filter: fewest sites"
    )
    run.add_argument(
        "--max-sites", type=int, default=_d(PrescreenSettings, "max_sites"), help="pre-filter: most sites"
    )
    run.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    run.add_argument("--threads", type=int, help="cores in all (default: this process's CPU affinity)")
    run.add_argument(
        "--fmax", type=float, default=_d(RelaxSettings, "fmax"), help="FIRE force convergence (eV/Å)"
    )
    run.add_argument("--steps", type=int, default=_d(RelaxSettings, "steps"), help="FIRE step limit")
    run.add_argument(
        "--max-seconds",
        type=float,
        default=_d(RelaxSettings, "max_seconds"),
        help="wall-time limit per structure (s)",
    )
    run.add_argument("--ehull-max", type=float, default=0.1, help="metastable threshold (eV/atom)")
    run.add_argument(
        "--max-below-hull",
        type=float,
        default=0.2,
        help="flag E_hull below minus this (eV/atom) as far_below_hull",
    )
    run.add_argument(
        "--keep-flagged",
        action="store_true",
        help="keep flagged structures in the metastable selection",
    )
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
    check.add_argument("--validation-size", type=int, default=30, help="ground states measured")
    check.add_argument(
        "--max-error", type=float, default=0.05, help="limit on the median |E_form error| (eV/atom)"
    )
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
    from xtalgen.hull.flags import RatingSettings, is_flagged  # noqa: PLC0415
    from xtalgen.prescreen.shard import prescreen, select_metastable  # noqa: PLC0415
    from xtalgen.prescreen.stage import flagged_path  # noqa: PLC0415
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
    chosen = select_metastable(table, args.ehull_max, keep_flagged=args.keep_flagged)
    chosen.to_csv(args.out.with_name(args.out.stem + ".metastable.csv"), index=False)
    flagged = table[(table["status"] == "ok") & is_flagged(table)]
    flagged.to_csv(flagged_path(args.out), index=False)
    counts = table["status"].value_counts().to_dict()
    flags = flagged["flag"].value_counts().to_dict()
    print(
        f"{len(table)} structures {counts}; {len(flagged)} flagged {flags}; "
        f"{len(chosen)} with E_hull <= {args.ehull_max}"
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
