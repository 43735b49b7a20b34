"""The ``xtalgen`` command: every stage of the workflow, runnable without Snakemake."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

__all__ = ["main"]

# Errors a user can fix from the message alone: printed without a traceback. Every xtalgen error
# (DatasetError, DatasetUnavailableError, BaseModelUnavailableError, HullError, ...) is one of these.
USER_ERRORS: tuple[type[Exception], ...] = (FileNotFoundError, ValueError, RuntimeError)

# CDVAE's MP-20 folder (as xtalgen.dataset.sources.CDVAE_MP20_URL; repeated so --help imports nothing heavy).
MP20_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/mp_20"


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
        help=f"download <url>/<split>.csv into the cache instead (MP-20: {MP20_URL})",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--cache-dir", type=Path, default=None, help="download cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--copies", type=int, default=1, help="prompt records per train structure")
    parser.add_argument("--no-translate", action="store_true", help="no random-translation augmentation")
    parser.add_argument("--infill-fraction", type=float, default=1.0 / 3.0)
    parser.add_argument("--max-rows", type=int, default=None, help="read only the first N rows")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad row")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.set_defaults(func=_run_data_prepare)


def _run_data_prepare(args: argparse.Namespace) -> int:
    from xtalgen.dataset.prepare import PrepareSettings, prepare_dataset  # noqa: PLC0415
    from xtalgen.dataset.sources import (  # noqa: PLC0415
        CDVAE_MP20_SHA256,
        CDVAE_MP20_URL,
        DatasetUnavailableError,
        resolve_split,
    )

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


def _add_hull_build(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "build",
        help="build and save the reference convex hull",
        description="Rebuild MP's hull over a dataset's phases (--dataset + --elemental-refs), "
        "build it from a JSON(.gz) file of MP ComputedStructureEntries (--entries), or fetch the "
        "candidates' chemical systems from the Materials Project API (--mp-api STRUCTURES, key in "
        "MP_API_KEY, cached per chemical system).",
    )
    parser.add_argument("--dataset", type=Path, nargs="+", help="MP-20 folder(s) or CSVs, or structures.csv")
    parser.add_argument("--elemental-refs", type=Path, help="MP elemental reference entries")
    parser.add_argument("--entries", type=Path, help="JSON(.gz) of MP entries instead")
    parser.add_argument(
        "--mp-api", type=Path, metavar="STRUCTURES", help="the MP API, for these candidates' systems"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="MP API answer cache")
    parser.add_argument("--out", type=Path, required=True, help="hull file (.json.gz)")
    parser.set_defaults(func=_run_hull_build)


def _run_hull_build(args: argparse.Namespace) -> int:
    from xtalgen.prescreen.stage import build_hull_file  # noqa: PLC0415

    n = build_hull_file(
        args.out,
        dataset=args.dataset,
        elemental_refs=args.elemental_refs,
        entries=args.entries,
        mp_api_structures=args.mp_api,
        mp_api_cache=args.cache_dir,
    )
    print(f"hull of {n} entries -> {args.out}")
    return 0


def _prescreen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="M3GNet-MP-2021.2.8-PES", help="matgl model folder")
    parser.add_argument(
        "--aggregation",
        choices=["auto", "destination", "source"],
        default="auto",
        help="M3GNet message aggregation; auto restores it for pre-matgl-3.0 weights",
    )


def _add_prescreen(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "prescreen",
        help="relax structures with M3GNet and rate them against the hull "
        "('xtalgen prescreen validate' checks the potential first)",
    )
    parser.add_argument(
        "--structures", type=Path, required=True, help="CSV with a cif column, CIF folder, extxyz"
    )
    parser.add_argument("--hull", type=Path, required=True, help="from `xtalgen hull build`")
    parser.add_argument("--out", type=Path, required=True, help="per-structure results CSV")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--threads", type=int, default=None, help="cores in all (default: affinity)")
    parser.add_argument("--fmax", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--max-sites", type=int, default=None)
    parser.add_argument("--ehull-max", type=float, default=0.1, help="metastable threshold")
    _prescreen_options(parser)
    parser.set_defaults(func=_run_prescreen)

    check = sub.add_parser(
        "prescreen-validate",
        help="measure the potential against DFT ground states (also: prescreen validate)",
    )
    check.add_argument("--dataset", type=Path, nargs="+", required=True)
    check.add_argument("--elemental-refs", type=Path, required=True)
    check.add_argument("--out", type=Path, required=True, help="summary JSON")
    check.add_argument("--figure", type=Path, default=None, help="parity plot PNG")
    check.add_argument("--size", type=int, default=30)
    check.add_argument("--max-error", type=float, default=0.05)
    _prescreen_options(check)
    check.set_defaults(func=_run_prescreen_validate)


def _run_prescreen(args: argparse.Namespace) -> int:
    from xtalgen.prescreen.relax import RelaxSettings  # noqa: PLC0415
    from xtalgen.prescreen.shard import PrescreenSettings, prescreen, select_metastable  # noqa: PLC0415
    from xtalgen.structures_io import read_structures  # noqa: PLC0415

    settings = PrescreenSettings(
        model=args.model,
        aggregation=args.aggregation,
        relax=RelaxSettings(fmax=args.fmax, steps=args.steps, max_seconds=args.max_seconds),
        max_sites=args.max_sites,
        workers=args.workers,
        threads=args.threads,
    )
    journal = args.out.with_name(args.out.name + ".journal.jsonl")
    table = prescreen(read_structures(args.structures), args.hull, args.out, journal, settings)
    chosen = select_metastable(table, args.ehull_max)
    chosen.to_csv(args.out.with_name(args.out.stem + ".metastable.csv"), index=False)
    counts = table["status"].value_counts().to_dict()
    print(f"{len(table)} structures {counts}; {len(chosen)} with E_hull <= {args.ehull_max}")
    return 0


def _run_prescreen_validate(args: argparse.Namespace) -> int:
    from xtalgen.prescreen.stage import validate_potential_files  # noqa: PLC0415

    median = validate_potential_files(
        dataset=args.dataset,
        elemental_refs=args.elemental_refs,
        model=args.model,
        aggregation=args.aggregation,
        out_json=args.out,
        out_png=args.figure,
        size=args.size,
        max_error=args.max_error,
    )
    print(f"median |E_form error| {median:.4f} eV/atom <= {args.max_error}: passed")
    return 0


def _train_options(parser: argparse.ArgumentParser, *, lr: float, steps: int) -> None:
    parser.add_argument("--records", type=Path, required=True, help="training prompts.jsonl")
    parser.add_argument("--val-records", type=Path, default=None, help="validation prompts.jsonl")
    parser.add_argument("--val-limit", type=int, default=64, help="validation records used")
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumes from it)")
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=steps, help="> 0 overrides --epochs")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--save-steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--completion-only", action="store_true", help="loss on the completion only")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    parser.add_argument("--gradient-checkpointing", action="store_true")


def _train_settings(args: argparse.Namespace):  # noqa: ANN202
    from xtalgen.lm.training import TrainSettings  # noqa: PLC0415

    return TrainSettings(
        learning_rate=args.lr,
        warmup_steps=args.warmup_steps,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        max_length=args.max_length,
        eval_steps=args.eval_steps,
        save_steps=args.save_steps,
        logging_steps=max(1, min(10, args.eval_steps)),
        seed=args.seed,
        precision=args.precision,
        gradient_checkpointing=args.gradient_checkpointing,
        completion_only=args.completion_only,
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokenizer", help="train the digit-splitting BPE tokenizer on prompt records")
    tok.add_argument("--records", type=Path, required=True)
    tok.add_argument("--out", type=Path, required=True)
    tok.add_argument("--vocab-size", type=int, default=512)
    tok.set_defaults(func=_run_train_tokenizer)

    tiny = sub.add_parser("tiny", help="pretrain the tiny LLaMA base on prompt records (CPU, minutes)")
    tiny.add_argument("--tokenizer", type=Path, required=True, help="from `xtalgen train tokenizer`")
    tiny.add_argument("--hidden-size", type=int, default=192)
    tiny.add_argument("--layers", type=int, default=4)
    tiny.add_argument("--heads", type=int, default=4)
    tiny.add_argument("--intermediate-size", type=int, default=512)
    _train_options(tiny, lr=2e-3, steps=200)
    tiny.set_defaults(func=_run_train_tiny)

    lora = sub.add_parser("lora", help="LoRA fine-tuning of a base model (the paper's settings)")
    lora.add_argument("--base", required=True, help="model folder or hub id")
    lora.add_argument("--trust-remote-code", action="store_true")
    lora.add_argument("--quantization", choices=["none", "4bit", "8bit"], default="none")
    lora.add_argument("--r", type=int, default=8)
    lora.add_argument("--alpha", type=int, default=32)
    lora.add_argument("--dropout", type=float, default=0.05)
    lora.add_argument("--target-modules", nargs="+", default=["q_proj", "k_proj", "v_proj", "o_proj"])
    _train_options(lora, lr=5e-4, steps=-1)
    lora.set_defaults(func=_run_train_lora)


def _run_train_tokenizer(args: argparse.Namespace) -> int:
    from xtalgen.lm.stage import tokenizer_files  # noqa: PLC0415

    n = tokenizer_files(args.records, args.out, args.vocab_size)
    print(f"tokenizer of {n} tokens -> {args.out}")
    return 0


def _run_train_tiny(args: argparse.Namespace) -> int:
    from xtalgen.lm.stage import pretrain_files  # noqa: PLC0415
    from xtalgen.lm.tiny import TinyModelSettings  # noqa: PLC0415

    shape = TinyModelSettings(
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        intermediate_size=args.intermediate_size,
    )
    n = pretrain_files(
        args.tokenizer,
        args.records,
        args.val_records,
        args.out,
        model_settings=shape,
        train_settings=_train_settings(args),
        val_limit=args.val_limit,
    )
    print(f"tiny LLaMA of {n:,} parameters -> {args.out / 'model'}")
    return 0


def _run_train_lora(args: argparse.Namespace) -> int:
    from xtalgen.lm.base import ModelSpec  # noqa: PLC0415
    from xtalgen.lm.lora import LoraSettings  # noqa: PLC0415
    from xtalgen.lm.stage import finetune_files  # noqa: PLC0415

    spec = ModelSpec(
        args.base,
        trust_remote_code=args.trust_remote_code,
        precision=args.precision,
        quantization=args.quantization,
    )
    lora = LoraSettings(args.r, args.alpha, args.dropout, tuple(args.target_modules))
    finetune_files(
        spec,
        args.records,
        args.val_records,
        args.out,
        lora=lora,
        settings=_train_settings(args),
        val_limit=args.val_limit,
    )
    print(f"adapter -> {args.out / 'adapter'}")
    return 0


def _add_sample(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sample", help="sample crystals (unconditional, conditional, infill) from a base model + adapter"
    )
    parser.add_argument("--base", required=True, help="model folder or hub id")
    parser.add_argument("--adapter", type=Path, default=None, help="LoRA adapter folder")
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--out", type=Path, required=True, help="CSV of every attempt")
    parser.add_argument("--unconditional", type=int, default=0, help="number of unconditional samples")
    parser.add_argument("--conditions", type=Path, default=None, help="CSV: formula, spacegroup, ...")
    parser.add_argument("--infill", type=Path, default=None, help="structures CSV (id, cif) to infill")
    parser.add_argument("--per-row", type=int, default=1, help="samples per conditions/infill row")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--max-new-tokens", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--constraint", choices=["none", "elements", "format"], default="format")
    parser.add_argument("--elements", nargs="+", default=None, help="allowed element symbols")
    parser.add_argument("--max-sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_run_sample)


def _run_sample(args: argparse.Namespace) -> int:
    import tempfile  # noqa: PLC0415

    from xtalgen.lm.base import ModelSpec  # noqa: PLC0415
    from xtalgen.lm.sampling import SampleSettings  # noqa: PLC0415
    from xtalgen.lm.stage import plan_samples, sample_files  # noqa: PLC0415

    conditions = pd_read(args.conditions)
    infill = pd_read(args.infill)
    settings = SampleSettings(
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        max_attempts=args.max_attempts,
        seed=args.seed,
        constraint=args.constraint,
        elements=tuple(args.elements) if args.elements else None,
        max_sites=args.max_sites,
    )
    with tempfile.TemporaryDirectory() as tmp:
        requests = Path(tmp) / "requests.jsonl"
        n = plan_samples(
            [requests],
            unconditional=args.unconditional,
            conditions=conditions,
            conditional_per_row=args.per_row,
            infill=infill,
            infill_per_row=args.per_row,
            seed=args.seed,
        )
        if n == 0:
            raise ValueError("nothing to sample: give --unconditional N, --conditions CSV or --infill CSV")
        spec = ModelSpec(args.base, trust_remote_code=args.trust_remote_code)
        table = sample_files(requests, spec, args.adapter, args.out, settings)
    parsed = int((table["status"] == "ok").sum())
    print(f"{parsed} of {n} samples parsed in {len(table)} attempts -> {args.out}")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="CDVAE/paper metrics of any generator's samples against training and test sets",
        description="Validity, coverage, Wasserstein distances, diversity, novelty, and with "
        "--prescreen the M3GNet metastable and S.U.N. rates, as one JSON.",
    )
    parser.add_argument("--samples", type=Path, required=True, help="CSV with a cif column, or CIF folder")
    parser.add_argument("--train", type=Path, required=True, help="training structures (novelty)")
    parser.add_argument("--test", type=Path, required=True, help="test structures (coverage, Wasserstein)")
    parser.add_argument("--out", type=Path, required=True, help="metrics JSON")
    parser.add_argument("--prescreen", type=Path, default=None, help="results.csv of `xtalgen prescreen`")
    parser.add_argument("--dft", type=Path, default=None, help="table of `xtalgen dft collect`")
    parser.add_argument("--cache-dir", type=Path, default=None, help="reference fingerprint cache")
    parser.add_argument("--workers", type=int, default=None, help="default: the cores of this job")
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
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
    )
    shown = ("n_samples", "structural_validity", "compositional_validity", "coverage_recall", "novelty")
    print(", ".join(f"{k} {metrics[k]}" for k in shown) + f" -> {args.out}")
    return 0


def _incar_value(text: str) -> object:
    import json  # noqa: PLC0415

    try:
        return json.loads(text)
    except ValueError:
        return text


def _add_dft(sub: argparse._SubParsersAction) -> None:
    dft = sub.add_parser("dft", help="atomate2 DFT verification: prepare, submit, status, collect")
    actions = dft.add_subparsers(dest="action", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="write each candidate's atomate2 flow (JSON) and first-job VASP inputs",
        description="Writes DIR/<id>/flow.json, DIR/<id>/inputs/{INCAR,KPOINTS,POSCAR,POTCAR or "
        "POTCAR.spec} and DIR/manifest.csv. Needs no VASP.",
    )
    prepare.add_argument(
        "--structures",
        type=Path,
        required=True,
        help="CSV with cif (or prescreen's cif_relaxed), a CIF folder, or extxyz",
    )
    prepare.add_argument("--out", type=Path, required=True, help="folder for flows and inputs")
    prepare.add_argument(
        "--maker",
        default="MPGGADoubleRelaxStaticMaker",
        help="atomate2 maker (default MP-compatible GGA(+U) double relax + static)",
    )
    prepare.add_argument(
        "--incar",
        action="append",
        default=[],
        metavar="TAG=VALUE",
        help="INCAR override for every job, repeatable (e.g. NCORE=4)",
    )
    prepare.add_argument("--vasp-cmd", default=None, help="VASP command the jobs run (default atomate2's)")
    prepare.add_argument(
        "--potcar-dir", default=None, help="POTCAR folder (default PMG_VASP_PSP_DIR; neither: POTCAR.spec)"
    )
    prepare.add_argument("--max-candidates", type=int, default=None, help="first N candidates only")
    prepare.set_defaults(func=_run_dft_prepare)

    submit = actions.add_parser(
        "submit",
        help="run the prepared flows locally or add them to a FireWorks LaunchPad, each once",
    )
    submit.add_argument("--prepared", type=Path, required=True, help="folder of `xtalgen dft prepare`")
    submit.add_argument(
        "--state",
        type=Path,
        required=True,
        help="state folder: ledger, job store, embedded LaunchPad, run folders",
    )
    submit.add_argument("--backend", choices=("local", "fireworks"), required=True)
    submit.add_argument(
        "--store",
        default=None,
        help="MongoDB URI of the jobflow store (default: MontyStore in --state, or $XTALGEN_JOBSTORE_URI)",
    )
    submit.add_argument(
        "--launchpad", default=None, help="FireWorks launchpad YAML (default: mongomock file in --state)"
    )
    submit.set_defaults(func=_run_dft_submit)

    status = actions.add_parser("status", help="pending/running/failed/completed per candidate")
    status.add_argument("--state", type=Path, required=True)
    status.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    status.set_defaults(func=_run_dft_status)

    collect = actions.add_parser(
        "collect",
        help="MP2020-corrected entries and E_hull^DFT of every finished candidate",
    )
    collect.add_argument("--state", type=Path, required=True)
    collect.add_argument("--hull", type=Path, required=True, help="hull of `xtalgen hull build`")
    collect.add_argument("--out", type=Path, required=True, help="table CSV")
    collect.add_argument("--summary", type=Path, default=None, help="counts and rates as JSON")
    collect.add_argument(
        "--samples",
        type=int,
        default=None,
        help="samples generated, for the DFT stable rate (stable / samples)",
    )
    collect.set_defaults(func=_run_dft_collect)


def _run_dft_prepare(args: argparse.Namespace) -> int:
    from xtalgen.dft.flows import DftSettings  # noqa: PLC0415
    from xtalgen.dft.prepare import prepare_flows, read_candidates  # noqa: PLC0415

    overrides = {}
    for item in args.incar:
        tag, sep, value = item.partition("=")
        if not sep or not tag.strip():
            raise ValueError(f"--incar {item!r}: write TAG=VALUE, e.g. NCORE=4")
        overrides[tag.strip().upper()] = _incar_value(value.strip())
    settings = DftSettings(
        maker=args.maker, incar_overrides=overrides, vasp_cmd=args.vasp_cmd, potcar_dir=args.potcar_dir
    )
    candidates = read_candidates(args.structures)[: args.max_candidates]
    table = prepare_flows(candidates, args.out, settings)
    print(f"{len(table)} flows ({settings.maker}) -> {args.out}/manifest.csv")
    return 0


def _run_dft_submit(args: argparse.Namespace) -> int:
    from xtalgen.dft.state import StateConfig  # noqa: PLC0415
    from xtalgen.dft.submit import submit  # noqa: PLC0415

    config = StateConfig(args.backend, store=args.store, launchpad=args.launchpad)
    table = submit(args.prepared, args.state, config)
    print(table.to_string(index=False) if len(table) else "nothing prepared")
    return 0


def _run_dft_status(args: argparse.Namespace) -> int:
    from xtalgen.dft.collect import STATES, status_table  # noqa: PLC0415

    table = status_table(args.state)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_string(index=False) if len(table) else "nothing submitted")
    print(", ".join(f"{s} {(table['state'] == s).sum()}" for s in STATES))
    return 0


def _run_dft_collect(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from xtalgen.dft.collect import collect, summarize  # noqa: PLC0415
    from xtalgen.prescreen.hull import load_hull  # noqa: PLC0415

    table = collect(args.state, load_hull(args.hull))
    table.to_csv(args.out, index=False)
    summary = summarize(table, args.samples)
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    print(", ".join(f"{k} {v}" for k, v in summary.items()) + f" -> {args.out}")
    return 0


def pd_read(path: Path | None) -> pd.DataFrame | None:
    """A CSV as a table, or None."""
    if path is None:
        return None
    import pandas as pd  # noqa: PLC0415

    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return pd.read_csv(path)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for documentation and tests."""
    parser = argparse.ArgumentParser(prog="xtalgen", description=__doc__)
    parser.add_argument("--version", action="version", version=f"xtalgen {__version__}")
    stages = parser.add_subparsers(dest="command", required=True)
    data = stages.add_parser("data", help="the data stage").add_subparsers(dest="action", required=True)
    _add_data_prepare(data)
    hull = stages.add_parser("hull", help="the reference convex hull").add_subparsers(
        dest="action", required=True
    )
    _add_hull_build(hull)
    _add_prescreen(stages)
    train = stages.add_parser("train", help="tokenizer, tiny base model and LoRA fine-tuning")
    _add_train(train.add_subparsers(dest="action", required=True))
    _add_sample(stages)
    _add_evaluate(stages)
    _add_dft(stages)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["prescreen", "validate"]:
        argv = ["prescreen-validate", *argv[2:]]
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except USER_ERRORS as err:
        print(f"xtalgen: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
