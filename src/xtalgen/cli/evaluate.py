"""``xtalgen evaluate metrics``: the paper's and CDVAE's metrics of any generator's samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_group

if TYPE_CHECKING:
    import argparse

__all__ = ["add_evaluate"]


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    """``xtalgen evaluate metrics``."""
    parser = add_command(
        add_group(commands, "evaluate", "evaluation of generated structures"),
        "metrics",
        _run_evaluate_metrics,
        "CDVAE and paper metrics of any generator's samples against training and test sets",
        "Validity, coverage, Wasserstein distances, diversity, novelty, and with --prescreen the "
        "M3GNet metastable and S.U.N. rates, as one JSON.",
    )
    parser.add_argument("--samples", type=Path, required=True, help="CSV with a cif column, or a CIF folder")
    parser.add_argument("--train", type=Path, required=True, help="training structures (novelty)")
    parser.add_argument("--test", type=Path, required=True, help="test structures (coverage, Wasserstein)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON")
    parser.add_argument(
        "--prescreen", type=Path, help="results.csv of `xtalgen prescreen run` (default: no stability rates)"
    )
    parser.add_argument(
        "--dft", type=Path, help="table of `xtalgen dft collect` (default: no DFT stable rate)"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="reference fingerprint cache (default: $XTALGEN_CACHE/fingerprints, else ~/.cache/xtalgen/...)",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: the cores of this job)")
    parser.add_argument(
        "--keep-flagged",
        action="store_true",
        help="count flagged prescreen rows (no reference compound, far below the hull) as stable",
    )


def _run_evaluate_metrics(args: argparse.Namespace) -> int:
    from xtalgen.dataset.sources import default_cache_dir  # noqa: PLC0415
    from xtalgen.evaluate.stage import evaluate_files  # noqa: PLC0415

    for path in (args.samples, args.train, args.test):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
    metrics = evaluate_files(
        args.samples,
        args.train,
        args.test,
        args.out,
        prescreen=args.prescreen,
        dft=args.dft,
        cache_dir=args.cache_dir or default_cache_dir() / "fingerprints",
        workers=args.workers,
        keep_flagged=args.keep_flagged,
    )
    shown = ("n_samples", "structural_validity", "compositional_validity", "coverage_recall", "novelty")
    print(", ".join(f"{k} {metrics[k]}" for k in shown) + f" -> {args.out}")
    return 0
