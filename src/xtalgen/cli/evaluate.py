"""``xtalgen evaluate metrics`` and ``evaluate ipt``: the paper's and CDVAE's metrics, and IPT."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_group, add_setting
from xtalgen.evaluate.settings import EvaluateSettings
from xtalgen.prescreen.settings import SelectionSettings

if TYPE_CHECKING:
    import argparse

__all__ = ["add_evaluate"]


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    """``xtalgen evaluate metrics`` and ``xtalgen evaluate ipt``."""
    group = add_group(commands, "evaluate", "evaluation of generated structures")
    parser = add_command(
        group,
        "metrics",
        _run_evaluate_metrics,
        "CDVAE and paper metrics of any generator's samples, per task",
        "The paper's Table 1 metrics of the unconditional samples at the top level, and the same per "
        "task (unconditional, conditional, infill, the uniform infill baseline) under by_task: "
        "validity, coverage, Wasserstein distances, diversity, novelty both ways, and with "
        "--prescreen the M3GNet metastable and S.U.N. rates, as one JSON. A samples file without a "
        "task column holds unconditional samples.",
    )
    parser.add_argument("--samples", type=Path, required=True, help="CSV with a cif column, or a CIF folder")
    parser.add_argument(
        "--train", type=Path, required=True, help="training structures (the paper's novelty, novelty_train)"
    )
    parser.add_argument("--val", type=Path, help="validation structures, also known (default: none)")
    parser.add_argument(
        "--known",
        type=Path,
        nargs="+",
        help="reference structures novelty is measured against (default: --train, --val and --test)",
    )
    parser.add_argument(
        "--seen",
        type=Path,
        nargs="+",
        help="more structures the model trained on (a pretraining corpus's structures.csv): "
        "StructureMatcher novelty counts them too (default: none)",
    )
    parser.add_argument("--test", type=Path, required=True, help="test structures (coverage, Wasserstein)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="uniform infill baseline samples to rate beside the infills (default: none)",
    )
    parser.add_argument(
        "--prescreen", type=Path, help="results.csv of `xtalgen prescreen run` (default: no stability rates)"
    )
    parser.add_argument(
        "--dft", type=Path, help="table of `xtalgen dft collect` (default: no DFT stable rate)"
    )
    parser.add_argument("--ipt", type=Path, help="JSON of `xtalgen evaluate ipt` to include (default: none)")
    add_setting(parser, "--ehull-tolerance", EvaluateSettings, "ehull_tolerance", type=float)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="reference fingerprint cache (default: $XTALGEN_CACHE/fingerprints, else ~/.cache/xtalgen/...)",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: the cores of this job)")
    add_setting(parser, "--keep-flagged", SelectionSettings, "keep_flagged", action="store_true")
    add_setting(parser, "--ehull-max", SelectionSettings, "ehull_max", type=float)
    ipt = add_command(
        group,
        "ipt",
        _run_evaluate_ipt,
        "the paper's increase in perplexity under translation (IPT) of a model",
        "IPT(s) = mean over translations of PPL - the lowest PPL, averaged over structures; PPL is the "
        "length-normalised perplexity of the crystal string after the generation prompt. 0 means the "
        "model is translation invariant.",
    )
    ipt.add_argument("--base", required=True, help="base model: a folder or a Hugging Face hub id")
    ipt.add_argument("--adapter", type=Path, help="LoRA output folder or its adapter/ (default: base alone)")
    ipt.add_argument("--structures", type=Path, required=True, help="structures (CSV with cif, CIF folder)")
    add_setting(ipt, "--translations", EvaluateSettings, "ipt_translations", type=int, dest="translations")
    add_setting(ipt, "--max-structures", EvaluateSettings, "ipt_structures", type=int, dest="max_structures")
    ipt.add_argument("--seed", type=int, default=0, help="seed of the translations")
    ipt.add_argument("--trust-remote-code", action="store_true", help="allow the model's own code")
    ipt.add_argument("--out", type=Path, required=True, help="IPT JSON")


def _run_evaluate_metrics(args: argparse.Namespace) -> int:
    from xtalgen.dataset.sources import default_cache_dir  # noqa: PLC0415
    from xtalgen.evaluate.stage import evaluate_files  # noqa: PLC0415

    known = args.known or [p for p in (args.train, args.val, args.test) if p is not None]
    seen = args.seen or []
    for path in (args.samples, args.test, *known, *seen, args.baseline, args.prescreen, args.dft, args.ipt):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
    metrics = evaluate_files(
        args.samples,
        known,
        args.test,
        args.out,
        baseline=args.baseline,
        prescreen=args.prescreen,
        dft=args.dft,
        ipt=args.ipt,
        cache_dir=args.cache_dir or default_cache_dir() / "fingerprints",
        workers=args.workers,
        keep_flagged=args.keep_flagged,
        ehull_tolerance=args.ehull_tolerance,
        ehull_max=args.ehull_max,
        seen=seen,
        train=args.train,
    )
    shown = ("n_samples", "structural_validity", "compositional_validity", "coverage_recall", "novelty")
    print("unconditional: " + ", ".join(f"{k} {metrics[k]}" for k in shown))
    tasks = ", ".join(f"{task} {m['n_samples']}" for task, m in metrics["by_task"].items())
    print(f"samples per task: {tasks} -> {args.out}")
    return 0


def _run_evaluate_ipt(args: argparse.Namespace) -> int:
    from xtalgen.lm.base import ModelSpec  # noqa: PLC0415
    from xtalgen.lm.stage import ipt_files  # noqa: PLC0415

    if not args.structures.exists():
        raise FileNotFoundError(
            f"{args.structures} does not exist: give a CSV with a cif column or CIF folder"
        )
    result = ipt_files(
        ModelSpec(args.base, trust_remote_code=args.trust_remote_code),
        args.adapter,
        args.structures,
        args.out,
        translations=args.translations,
        max_structures=args.max_structures,
        seed=args.seed,
    )
    print(
        f"IPT {result['ipt_mean']:.4g} (median {result['ipt_median']:.4g}) over {result['n_structures']} "
        f"structures x {result['translations']} translations -> {args.out}"
    )
    return 0
