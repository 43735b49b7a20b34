"""The language-model commands: ``tokenizer train``, ``tiny pretrain``, ``lora train``, ``sample run``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_formula_style, add_group, add_setting, read_csv_or_none
from xtalgen.errors import InputError
from xtalgen.lm.settings import (
    DrawSettings,
    FinetuneSettings,
    LoraSettings,
    SampleSettings,
    TinyModelSettings,
    TinyPretrainSettings,
    TrainSettings,
)

if TYPE_CHECKING:
    import argparse

__all__ = ["add_lm"]


def add_lm(commands: argparse._SubParsersAction) -> None:
    """The tokenizer, the tiny base, LoRA and sampling."""
    tokenizer = add_command(
        add_group(commands, "tokenizer", "the digit-splitting BPE tokenizer of the tiny base"),
        "train",
        _run_tokenizer_train,
        "train the tokenizer on prompt records",
    )
    tokenizer.add_argument("--records", type=Path, required=True, help="training prompts.jsonl")
    tokenizer.add_argument("--out", type=Path, required=True, help="tokenizer folder")
    add_setting(tokenizer, "--vocab-size", TinyModelSettings, "vocab_size", type=int)

    tiny = add_command(
        add_group(commands, "tiny", "the embedded tiny LLaMA base model"),
        "pretrain",
        _run_tiny_pretrain,
        "pretrain the tiny LLaMA base on prompt records (CPU, minutes)",
    )
    tiny.add_argument("--tokenizer", type=Path, required=True, help="folder of `xtalgen tokenizer train`")
    for flag, name in (
        ("--hidden-size", "hidden_size"),
        ("--layers", "layers"),
        ("--heads", "heads"),
        ("--intermediate-size", "intermediate_size"),
    ):
        add_setting(tiny, flag, TinyModelSettings, name, type=int)
    add_setting(tiny, "--element-weight", TinyPretrainSettings, "element_weight", type=float)
    add_formula_style(tiny, "how the records state formulas; saved with the model for sampling")
    _train_options(tiny, TinyPretrainSettings, val_limit=64)

    lora = add_command(
        add_group(commands, "lora", "LoRA fine-tuning of a base model"),
        "train",
        _run_lora_train,
        "LoRA fine-tuning of a base model on prompt records",
        "Writes OUT/adapter (the adapter and tokenizer), OUT/training_log.csv and OUT/loss.png; "
        "checkpoints in OUT/checkpoints make a rerun resume.",
    )
    lora.add_argument("--base", required=True, help="model folder or hub id")
    add_setting(lora, "--trust-remote-code", FinetuneSettings, "trust_remote_code", action="store_true")
    add_setting(lora, "--quantization", FinetuneSettings, "quantization", choices=["none", "4bit", "8bit"])
    add_setting(lora, "--lora-r", LoraSettings, "r", type=int)
    add_setting(lora, "--lora-alpha", LoraSettings, "alpha", type=int)
    add_setting(lora, "--lora-dropout", LoraSettings, "dropout", type=float)
    add_setting(lora, "--target-modules", LoraSettings, "target_modules", nargs="+")
    _train_options(lora, TrainSettings, val_limit=FinetuneSettings.val_records, structures=True)
    add_setting(lora, "--infill-fraction", DrawSettings, "infill_fraction", type=float)
    add_setting(lora, "--no-translate", DrawSettings, "translate", action="store_false")
    add_formula_style(
        lora,
        "how conditional prompts state the formula: the --records' style, or with --structures the "
        "draws' (as the data stage did); saved with the adapter for sampling",
    )
    lora.add_argument(
        "--settings",
        type=Path,
        help="JSON of a FinetuneSettings (the workflow writes it from its config): its training, adapter "
        "and draw settings are used instead of those flags (default: none, the flags)",
    )

    sample = add_command(
        add_group(commands, "sample", "sampling crystals as text"),
        "run",
        _run_sample,
        "sample crystals (unconditional, conditional, infill) from a base model and adapter",
        "Writes every attempt (raw text, status, reason, cif) to OUT.",
    )
    sample.add_argument("--base", required=True, help="model folder or hub id")
    sample.add_argument(
        "--adapter",
        type=Path,
        help="the folder `xtalgen lora train` wrote, or its adapter/ folder (default: none, the base alone)",
    )
    sample.add_argument("--trust-remote-code", action="store_true", help="let a hub model run its own code")
    sample.add_argument("--out", type=Path, required=True, help="CSV of every attempt")
    sample.add_argument("--unconditional", type=int, default=100, help="number of unconditional samples")
    sample.add_argument(
        "--conditions", type=Path, help="CSV of conditions: formula, spacegroup, ... (default: none)"
    )
    sample.add_argument("--conditions-per-row", type=int, default=1, help="samples per conditions row")
    sample.add_argument("--conditions-max-rows", type=int, help="first N conditions rows (default: all)")
    sample.add_argument(
        "--formula-elements",
        action="store_true",
        help="conditional samples may use only their formula's elements; the model still picks the "
        "counts and sites (default: off, any allowed element, as the paper samples)",
    )
    add_formula_style(
        sample,
        "state each formula as given (reduced, the paper's) or flat with the amounts given (cell) "
        "(default: the style saved with the adapter or base at training, else reduced)",
        default=None,
    )
    sample.add_argument("--infill", type=Path, help="structures CSV (id, cif) to infill (default: none)")
    sample.add_argument("--infill-per-row", type=int, default=1, help="samples per infill structure")
    sample.add_argument("--infill-max-rows", type=int, help="first N infill structures (default: all)")
    sample.add_argument(
        "--no-swap-table",
        action="store_true",
        help="infill answers any element, not only the masked element's swap table (the paper's)",
    )
    add_setting(sample, "--temperature", SampleSettings, "temperature", type=float)
    add_setting(sample, "--element-temperature", SampleSettings, "element_temperature", type=float)
    add_setting(sample, "--top-p", SampleSettings, "top_p", type=float)
    add_setting(sample, "--max-new-tokens", SampleSettings, "max_new_tokens", type=int)
    add_setting(sample, "--batch-size", SampleSettings, "batch_size", type=int)
    add_setting(sample, "--max-attempts", SampleSettings, "max_attempts", type=int)
    add_setting(sample, "--constraint", SampleSettings, "constraint", choices=["none", "elements", "format"])
    add_setting(sample, "--elements", SampleSettings, "elements", nargs="+")
    add_setting(sample, "--max-sites", SampleSettings, "max_sites", type=int)
    add_setting(sample, "--seed", SampleSettings, "seed", type=int)


def _train_options(
    parser: argparse.ArgumentParser,
    defaults: type,
    *,
    val_limit: int | None,
    structures: bool = False,
) -> None:
    """Training flags; ``defaults`` gives the step count, batch size, rate and decay their defaults.

    ``defaults`` is TrainSettings, or TinyPretrainSettings for the tiny base.
    """
    if structures:
        data = parser.add_mutually_exclusive_group(required=True)
        data.add_argument(
            "--records",
            type=Path,
            help="training prompts.jsonl, drawn once by the data stage (default: none, give --structures)",
        )
        data.add_argument(
            "--structures",
            type=Path,
            help="training structures.csv: a task and translation drawn anew each time a structure is "
            "used, seeded by (seed, epoch, index), as the paper trains (default: none, give --records)",
        )
    else:
        parser.add_argument("--records", type=Path, required=True, help="training prompts.jsonl")
    parser.add_argument(
        "--val-records", type=Path, help="validation prompts.jsonl (default: none, no validation loss)"
    )
    parser.add_argument(
        "--val-limit", type=int, default=val_limit, help="validation records used (none: all)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (a rerun resumes from it)")
    steps = "steps" if defaults is TinyPretrainSettings else "max_steps"
    add_setting(parser, "--lr", defaults, "learning_rate", type=float, dest="lr")
    add_setting(parser, "--warmup-steps", TrainSettings, "warmup_steps", type=int)
    add_setting(parser, "--decay-fraction", defaults, "decay_fraction", type=float)
    add_setting(parser, "--epochs", TrainSettings, "epochs", type=float)
    add_setting(parser, "--max-steps", defaults, steps, type=int, dest="max_steps")
    add_setting(parser, "--batch-size", defaults, "batch_size", type=int)
    add_setting(parser, "--grad-accum", TrainSettings, "grad_accum", type=int)
    add_setting(parser, "--max-length", TrainSettings, "max_length", type=int)
    add_setting(parser, "--eval-steps", TrainSettings, "eval_steps", type=int)
    add_setting(parser, "--save-steps", TrainSettings, "save_steps", type=int)
    add_setting(parser, "--seed", TrainSettings, "seed", type=int)
    add_setting(parser, "--completion-only", TrainSettings, "completion_only", action="store_true")
    add_setting(parser, "--precision", TrainSettings, "precision", choices=["auto", "fp32", "bf16", "fp16"])
    add_setting(
        parser, "--gradient-checkpointing", TrainSettings, "gradient_checkpointing", action="store_true"
    )
    add_setting(parser, "--no-group-by-length", TrainSettings, "group_by_length", action="store_false")


def _train_settings(args: argparse.Namespace) -> TrainSettings:
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
        group_by_length=args.group_by_length,
        decay_fraction=args.decay_fraction,
        element_weight=getattr(args, "element_weight", 1.0),
    )


def _run_tokenizer_train(args: argparse.Namespace) -> int:
    from xtalgen.lm.stage import tokenizer_files  # noqa: PLC0415

    n = tokenizer_files(args.records, args.out, args.vocab_size)
    print(f"tokenizer of {n} tokens -> {args.out}")
    return 0


def _run_tiny_pretrain(args: argparse.Namespace) -> int:
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
        formula_style=args.formula_style,
    )
    from xtalgen.report.figures import pretraining_loss_figure  # noqa: PLC0415

    pretraining_loss_figure(args.out, n)
    print(f"tiny LLaMA of {n:,} parameters -> {args.out / 'model'}")
    return 0


def _run_lora_train(args: argparse.Namespace) -> int:
    from xtalgen.lm.base import ModelSpec  # noqa: PLC0415
    from xtalgen.lm.stage import finetune_files  # noqa: PLC0415

    settings = _finetune_settings(args)
    spec = ModelSpec(
        args.base,
        trust_remote_code=settings.trust_remote_code,
        precision=settings.train.precision,
        quantization=settings.quantization,
    )
    finetune_files(
        spec,
        args.structures or args.records,
        args.val_records,
        args.out,
        lora=settings.lora,
        settings=settings.train,
        val_limit=settings.val_records,
        draw=settings.draw if args.structures is not None else None,
        formula_style=settings.formula_style,
    )
    from xtalgen.report.figures import finetuning_loss_figure  # noqa: PLC0415

    finetuning_loss_figure(args.out)
    print(f"adapter -> {args.out / 'adapter'}")
    return 0


def _finetune_settings(args: argparse.Namespace) -> FinetuneSettings:
    """The settings of ``--settings``, or those of the flags."""
    if args.settings is not None:
        if not args.settings.is_file():
            raise InputError(f"--settings {args.settings}: no such file; give the JSON the workflow wrote")
        try:
            return FinetuneSettings.from_json(args.settings.read_text())
        except (ValueError, TypeError, KeyError) as err:
            raise InputError(f"--settings {args.settings}: not a FinetuneSettings JSON ({err})") from err
    return FinetuneSettings(
        train=_train_settings(args),
        lora=LoraSettings(args.lora_r, args.lora_alpha, args.lora_dropout, tuple(args.target_modules)),
        draw=DrawSettings(args.seed, args.infill_fraction, args.translate, args.formula_style),
        val_records=args.val_limit,
        quantization=args.quantization,
        trust_remote_code=args.trust_remote_code,
        formula_style=args.formula_style,
    )


def _sampling_style(args: argparse.Namespace) -> str:
    """--formula-style, else the style saved with the adapter (or a local base), else the paper's."""
    from xtalgen.lm.lora import adapter_folder  # noqa: PLC0415
    from xtalgen.lm.prompt_style import prompt_style_for  # noqa: PLC0415

    adapter = adapter_folder(args.adapter) if args.adapter is not None else None
    base = Path(args.base) if Path(args.base).is_dir() else None
    return prompt_style_for(args.formula_style, adapter, base)


def _run_sample(args: argparse.Namespace) -> int:
    import tempfile  # noqa: PLC0415

    from xtalgen.lm.base import ModelSpec  # noqa: PLC0415
    from xtalgen.lm.sampling import SampleSettings  # noqa: PLC0415
    from xtalgen.lm.stage import plan_samples, sample_files  # noqa: PLC0415

    conditions = read_csv_or_none(args.conditions)
    if conditions is not None and args.conditions_max_rows:
        conditions = conditions.head(args.conditions_max_rows)
    infill = read_csv_or_none(args.infill)
    if infill is not None and args.infill_max_rows:
        infill = infill.head(args.infill_max_rows)
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
        element_temperature=args.element_temperature,
    )
    with tempfile.TemporaryDirectory() as tmp:
        requests = Path(tmp) / "requests.jsonl"
        n = plan_samples(
            [requests],
            unconditional=args.unconditional,
            conditions=conditions,
            conditional_per_row=args.conditions_per_row,
            infill=infill,
            infill_per_row=args.infill_per_row,
            seed=args.seed,
            swap_table=not args.no_swap_table,
            hold_formula_elements=args.formula_elements,
            formula_style=_sampling_style(args),
        )
        if n == 0:
            raise InputError("nothing to sample: give --unconditional N, --conditions CSV or --infill CSV")
        spec = ModelSpec(args.base, trust_remote_code=args.trust_remote_code)
        table = sample_files(requests, spec, args.adapter, args.out, settings)
    parsed = int((table["status"] == "ok").sum())
    print(f"{parsed} of {n} samples parsed in {len(table)} attempts -> {args.out}")
    return 0
