"""The language-model commands: ``tokenizer train``, ``tiny pretrain``, ``lora train``, ``sample run``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_formula_style, add_group, read_csv_or_none
from xtalgen.cli.options import default_of as _d
from xtalgen.errors import InputError
from xtalgen.lm.settings import DrawSettings, LoraSettings, SampleSettings, TinyModelSettings, TrainSettings

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
    tokenizer.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size")

    tiny = add_command(
        add_group(commands, "tiny", "the embedded tiny LLaMA base model"),
        "pretrain",
        _run_tiny_pretrain,
        "pretrain the tiny LLaMA base on prompt records (CPU, minutes)",
    )
    tiny.add_argument("--tokenizer", type=Path, required=True, help="folder of `xtalgen tokenizer train`")
    tiny.add_argument(
        "--hidden-size", type=int, default=_d(TinyModelSettings, "hidden_size"), help="hidden size"
    )
    tiny.add_argument(
        "--layers", type=int, default=_d(TinyModelSettings, "layers"), help="transformer layers"
    )
    tiny.add_argument("--heads", type=int, default=_d(TinyModelSettings, "heads"), help="attention heads")
    tiny.add_argument(
        "--intermediate-size", type=int, default=_d(TinyModelSettings, "intermediate_size"), help="MLP width"
    )
    tiny.add_argument(
        "--element-weight",
        type=float,
        default=_d(TrainSettings, "element_weight"),
        help="loss weight of the crystal's element lines (with the newline opening each) and EOS against 1 "
        "for other tokens",
    )
    _train_options(tiny, lr=2e-3, steps=200, batch_size=16, val_limit=64)

    lora = add_command(
        add_group(commands, "lora", "LoRA fine-tuning of a base model"),
        "train",
        _run_lora_train,
        "LoRA fine-tuning of a base model on prompt records",
        "Writes OUT/adapter (the adapter and tokenizer), OUT/training_log.csv and OUT/loss.png; "
        "checkpoints in OUT/checkpoints make a rerun resume.",
    )
    lora.add_argument("--base", required=True, help="model folder or hub id")
    lora.add_argument("--trust-remote-code", action="store_true", help="let a hub model run its own code")
    lora.add_argument("--quantization", choices=["none", "4bit", "8bit"], default="none", help="QLoRA (CUDA)")
    lora.add_argument("--lora-r", type=int, default=_d(LoraSettings, "r"), help="adapter rank")
    lora.add_argument("--lora-alpha", type=int, default=_d(LoraSettings, "alpha"), help="adapter scale")
    lora.add_argument(
        "--lora-dropout", type=float, default=_d(LoraSettings, "dropout"), help="adapter dropout"
    )
    lora.add_argument(
        "--target-modules",
        nargs="+",
        default=_d(LoraSettings, "target_modules"),
        help="modules that get an adapter",
    )
    _train_options(lora, lr=5e-4, steps=-1, batch_size=8, val_limit=256, structures=True)
    lora.add_argument(
        "--infill-fraction",
        type=float,
        default=_d(DrawSettings, "infill_fraction"),
        help="with --structures: share of draws that are infill tasks",
    )
    lora.add_argument(
        "--no-translate", action="store_true", help="with --structures: no random translation per draw"
    )
    add_formula_style(
        lora, "with --structures: how conditional draws state the formula (as the data stage did)"
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
        "state each formula as the model was trained to read it: as given (reduced, the paper's) "
        "or flat with the amounts given (cell)",
    )
    sample.add_argument("--infill", type=Path, help="structures CSV (id, cif) to infill (default: none)")
    sample.add_argument("--infill-per-row", type=int, default=1, help="samples per infill structure")
    sample.add_argument("--infill-max-rows", type=int, help="first N infill structures (default: all)")
    sample.add_argument(
        "--no-swap-table",
        action="store_true",
        help="infill answers any element, not only the masked element's swap table (the paper's)",
    )
    sample.add_argument(
        "--temperature", type=float, default=_d(SampleSettings, "temperature"), help="sampling temperature"
    )
    sample.add_argument(
        "--element-temperature",
        type=float,
        help="temperature of the element lines of generated crystals (default: --temperature everywhere)",
    )
    sample.add_argument(
        "--top-p", type=float, default=_d(SampleSettings, "top_p"), help="nucleus sampling threshold"
    )
    sample.add_argument(
        "--max-new-tokens",
        type=int,
        default=_d(SampleSettings, "max_new_tokens"),
        help="tokens per completion",
    )
    sample.add_argument(
        "--batch-size", type=int, default=_d(SampleSettings, "batch_size"), help="prompts per generate() call"
    )
    sample.add_argument(
        "--max-attempts",
        type=int,
        default=_d(SampleSettings, "max_attempts"),
        help="draws per sample until one parses",
    )
    sample.add_argument(
        "--constraint",
        choices=["none", "elements", "format"],
        default=_d(SampleSettings, "constraint"),
        help="constrained decoding",
    )
    sample.add_argument("--elements", nargs="+", help="allowed element symbols (default: H to Pu)")
    sample.add_argument(
        "--max-sites",
        type=int,
        default=_d(SampleSettings, "max_sites"),
        help="most sites of a sampled crystal",
    )
    sample.add_argument("--seed", type=int, default=_d(SampleSettings, "seed"), help="sampling seed")


def _train_options(
    parser: argparse.ArgumentParser,
    *,
    lr: float,
    steps: int,
    batch_size: int,
    val_limit: int,
    structures: bool = False,
) -> None:
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
    parser.add_argument("--val-limit", type=int, default=val_limit, help="validation records used")
    parser.add_argument("--out", type=Path, required=True, help="output folder (a rerun resumes from it)")
    parser.add_argument("--lr", type=float, default=lr, help="peak learning rate (cosine, warmup)")
    parser.add_argument(
        "--warmup-steps", type=int, default=_d(TrainSettings, "warmup_steps"), help="learning-rate warmup"
    )
    parser.add_argument(
        "--decay-fraction",
        type=float,
        help="hold the peak rate, then decay by cosine over this last fraction of --max-steps "
        "(default: cosine over the whole run)",
    )
    parser.add_argument(
        "--epochs", type=float, default=_d(TrainSettings, "epochs"), help="passes over the records"
    )
    parser.add_argument(
        "--max-steps", type=int, default=steps, help="optimizer steps; > 0 overrides --epochs"
    )
    parser.add_argument("--batch-size", type=int, default=batch_size, help="records per device step")
    parser.add_argument(
        "--grad-accum", type=int, default=_d(TrainSettings, "grad_accum"), help="gradient accumulation steps"
    )
    parser.add_argument(
        "--max-length", type=int, default=_d(TrainSettings, "max_length"), help="tokens per sequence"
    )
    parser.add_argument(
        "--eval-steps", type=int, default=_d(TrainSettings, "eval_steps"), help="validation loss interval"
    )
    parser.add_argument(
        "--save-steps", type=int, default=_d(TrainSettings, "save_steps"), help="checkpoint interval"
    )
    parser.add_argument("--seed", type=int, default=_d(TrainSettings, "seed"), help="training seed")
    parser.add_argument(
        "--completion-only", action="store_true", help="loss on the completion only, not the prompt"
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp16"],
        default=_d(TrainSettings, "precision"),
        help="weights and compute",
    )
    parser.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for memory")
    parser.add_argument(
        "--no-group-by-length",
        action="store_true",
        help="random batches instead of batches of like length (which skip most padding)",
    )


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
        group_by_length=not args.no_group_by_length,
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
    )
    from xtalgen.report.figures import pretraining_loss_figure  # noqa: PLC0415

    pretraining_loss_figure(args.out, n)
    print(f"tiny LLaMA of {n:,} parameters -> {args.out / 'model'}")
    return 0


def _run_lora_train(args: argparse.Namespace) -> int:
    from xtalgen.lm.base import ModelSpec  # noqa: PLC0415
    from xtalgen.lm.lora import LoraSettings  # noqa: PLC0415
    from xtalgen.lm.stage import finetune_files  # noqa: PLC0415

    spec = ModelSpec(
        args.base,
        trust_remote_code=args.trust_remote_code,
        precision=args.precision,
        quantization=args.quantization,
    )
    from xtalgen.lm.draws import DrawSettings  # noqa: PLC0415

    lora = LoraSettings(args.lora_r, args.lora_alpha, args.lora_dropout, tuple(args.target_modules))
    draw = None
    if args.structures is not None:
        draw = DrawSettings(args.seed, args.infill_fraction, not args.no_translate, args.formula_style)
    finetune_files(
        spec,
        args.structures or args.records,
        args.val_records,
        args.out,
        lora=lora,
        settings=_train_settings(args),
        val_limit=args.val_limit,
        draw=draw,
    )
    from xtalgen.report.figures import finetuning_loss_figure  # noqa: PLC0415

    finetuning_loss_figure(args.out)
    print(f"adapter -> {args.out / 'adapter'}")
    return 0


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
            formula_style=args.formula_style,
        )
        if n == 0:
            raise InputError("nothing to sample: give --unconditional N, --conditions CSV or --infill CSV")
        spec = ModelSpec(args.base, trust_remote_code=args.trust_remote_code)
        table = sample_files(requests, spec, args.adapter, args.out, settings)
    parsed = int((table["status"] == "ok").sum())
    print(f"{parsed} of {n} samples parsed in {len(table)} attempts -> {args.out}")
    return 0
