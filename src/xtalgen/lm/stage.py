"""File-level entry points of the language-model stages, shared by the CLI and the Snakemake scripts."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xtalgen.errors import InputError
from xtalgen.io import atomic_output, output_lock, read_csv
from xtalgen.lm.base import ModelSpec, load_base_model, load_tokenizer
from xtalgen.lm.records import read_records
from xtalgen.lm.sample_journal import BatchJournal, model_identity
from xtalgen.lm.sampling import (
    SAMPLE_COLUMNS,
    SampleRequest,
    SampleSettings,
    conditional_requests,
    infill_requests,
    sample,
    unconditional_requests,
)
from xtalgen.structures_io import read_structures, refuse_repeated_ids

if TYPE_CHECKING:
    from xtalgen.lm.draws import DrawSettings
    from xtalgen.lm.lora import LoraSettings
    from xtalgen.lm.tiny import TinyModelSettings
    from xtalgen.lm.training import TrainSettings
    from xtalgen.text.prompts import FormulaStyle

__all__ = [
    "conditions_from_structures",
    "finetune_files",
    "gather_samples",
    "plan_samples",
    "pretrain_files",
    "sample_files",
    "tokenizer_files",
]
log = logging.getLogger(__name__)


def tokenizer_files(records: Path, out_dir: Path, vocab_size: int) -> int:
    """Train the crystal-string tokenizer on the training prompt records."""
    from xtalgen.lm.tokenizer import train_tokenizer  # noqa: PLC0415

    texts = [r["prompt"] + r["completion"] for r in read_records(records)]
    return len(train_tokenizer(texts, out_dir, vocab_size))


def pretrain_files(
    tokenizer_dir: Path,
    records: Path,
    val_records: Path | None,
    out_dir: Path,
    *,
    model_settings: TinyModelSettings,
    train_settings: TrainSettings,
    val_limit: int | None = None,
    formula_style: FormulaStyle = "reduced",
) -> int:
    """Pretrain the tiny base; returns its number of parameters.

    ``formula_style``: how the records state formulas; it is saved with the model.
    """
    from xtalgen.lm.tiny import pretrain_tiny  # noqa: PLC0415

    val = read_records(val_records, val_limit) if val_records else None
    model = pretrain_tiny(
        tokenizer_dir,
        read_records(records),
        val,
        out_dir,
        model_settings=model_settings,
        train_settings=train_settings,
        formula_style=formula_style,
    )
    return sum(p.numel() for p in model.parameters())


def finetune_files(
    spec: ModelSpec,
    train: Path,
    val_records: Path | None,
    out_dir: Path,
    *,
    lora: LoraSettings,
    settings: TrainSettings,
    val_limit: int | None = None,
    draw: DrawSettings | None = None,
    formula_style: FormulaStyle = "reduced",
) -> None:
    """LoRA fine-tuning from the data stage's prompt records, or, with ``draw``, its structures table.

    ``formula_style``: how the records state formulas (with ``draw``, the draw's); it is saved with
    the adapter, and sampling asks in it.
    """
    from xtalgen.lm.draws import read_training_structures  # noqa: PLC0415
    from xtalgen.lm.lora import finetune  # noqa: PLC0415

    val = read_records(val_records, val_limit) if val_records else None
    data = read_training_structures(train) if draw is not None else read_records(train)
    style = draw.formula_style if draw is not None else formula_style
    finetune(spec, data, val, out_dir, lora=lora, settings=settings, draw=draw, formula_style=style)


def conditions_from_structures(
    path: Path, max_rows: int | None, formula_style: FormulaStyle = "reduced"
) -> pd.DataFrame:
    """A conditions table (formula, spacegroup, e_above_hull) from a structures table's rows.

    The formula is stated as the model learned it: under ``cell``, each structure's own cell
    contents (``Na4Cl4`` for a conventional rock-salt cell), as the data stage wrote its prompts,
    not the reduced formula, which would ask for one formula unit.
    """
    table = read_csv(path, "a structures table with formula and spacegroup columns")
    table = table.head(max_rows) if max_rows else table
    columns = [c for c in ("id", "formula", "spacegroup", "e_above_hull") if c in table.columns]
    conditions = table[columns].copy()
    if formula_style == "cell" and "cif" in table.columns:
        from xtalgen.structures_io import parse_cif  # noqa: PLC0415
        from xtalgen.text.prompts import cell_formula  # noqa: PLC0415

        cells = []
        for row_id, cif in zip(table.get("id", range(len(table))), table["cif"], strict=True):
            structure, why = parse_cif(str(cif))
            if structure is None:
                raise InputError(f"{path}, id {row_id}: the cell's formula cannot be read ({why})")
            cells.append(cell_formula(structure))
        conditions["formula"] = cells
    return conditions


def plan_samples(
    shards: list[Path],
    *,
    unconditional: int,
    conditions: pd.DataFrame | None,
    conditional_per_row: int,
    infill: pd.DataFrame | None,
    infill_per_row: int,
    seed: int,
    swap_table: bool = False,
    hold_formula_elements: bool = False,
    formula_style: FormulaStyle = "reduced",
) -> int:
    """Every sample request, dealt round-robin into shard files (JSON lines)."""
    requests = unconditional_requests(unconditional)
    if conditions is not None and conditional_per_row:
        requests += conditional_requests(
            conditions, conditional_per_row, hold_elements=hold_formula_elements, formula_style=formula_style
        )
    if infill is not None and infill_per_row:
        requests += infill_requests(infill, infill_per_row, seed, swap_table=swap_table)
    # Sample ids key the prescreen and the metrics: the conditions and infill tables' ids must be unique.
    refuse_repeated_ids((r.id for r in requests), "sample requests (from the conditions and infill tables)")
    for index, shard in enumerate(shards):
        with atomic_output(shard) as tmp, tmp.open("w") as handle:
            for request in requests[index :: len(shards)]:
                handle.write(json.dumps(asdict(request)) + "\n")
    return len(requests)


def _read_requests(path: Path) -> list[SampleRequest]:
    with path.open() as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [SampleRequest(**(row | {"choices": _tuple(row.get("choices"))})) for row in rows]


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values else None


def _model_and_tokenizer(spec: ModelSpec, adapter: Path | None) -> tuple[Any, Any, Path | None]:
    """The model with the adapter folded in (on the GPU when there is one), tokenizer and adapter folder."""
    import torch  # noqa: PLC0415

    from xtalgen.lm.lora import adapter_folder, load_for_sampling  # noqa: PLC0415

    adapter = adapter_folder(adapter) if adapter is not None else None
    tokenizer = load_tokenizer(str(adapter) if adapter else spec.name_or_path)
    model = load_for_sampling(spec, adapter) if adapter is not None else load_base_model(spec)
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model, tokenizer, adapter


def sample_files(
    requests: Path,
    spec: ModelSpec,
    adapter: Path | None,
    out_csv: Path,
    settings: SampleSettings,
) -> pd.DataFrame:
    """Draw the samples of one shard with the base model (plus adapter) and write every attempt.

    Finished batches go to ``<out_csv>.journal.jsonl`` as they end: a shard preempted (SIGTERM, after
    its batch in flight) or killed resumes from there when rerun.
    """
    model, tokenizer, _ = _model_and_tokenizer(spec, adapter)
    base = Path(spec.name_or_path)
    identity = model_identity(base if base.is_dir() else None, adapter) or [[spec.name_or_path]]
    journal_path = out_csv.with_name(f"{out_csv.name}.journal.jsonl")
    with output_lock(out_csv), BatchJournal(journal_path, settings, identity) as journal:
        rows = list(sample(model, tokenizer, _read_requests(requests), settings, journal))
        table = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
        with atomic_output(out_csv) as tmp:
            table.to_csv(tmp, index=False)
    return table


def baseline_files(requests: list[Path], out: Path, seed: int) -> pd.DataFrame:
    """The paper's uniform infill baseline for every infill request of the run, as sample rows."""
    from xtalgen.lm.infill import uniform_baseline  # noqa: PLC0415

    planned = [r for path in requests for r in _read_requests(path)]
    planned.sort(key=lambda r: r.id)  # one draw per request, whatever the sharding
    table = pd.DataFrame(uniform_baseline(planned, seed), columns=SAMPLE_COLUMNS)
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    return table


def gather_samples(
    shards: list[Path], samples: Path, structures: Path, summary: Path, baseline: Path | None = None
) -> dict[str, Any]:
    """All attempts in one table, the parsed structures (``id, cif, task``) for the prescreen, and rates.

    The ``baseline``'s structures (the uniform infill swaps) join the prescreen's structures, so the
    model's infills and the baseline are rated alike; they stay out of the samples table.
    """
    tables = [pd.read_csv(p, keep_default_na=False, dtype={"cif": str}) for p in shards]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=SAMPLE_COLUMNS)
    ok = table[table["status"] == "ok"]
    rated = ok
    if baseline is not None:
        drawn = pd.read_csv(baseline, keep_default_na=False, dtype={"cif": str})
        rated = pd.concat([ok, drawn[drawn["status"] == "ok"]], ignore_index=True)
    with atomic_output(samples) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_output(structures) as tmp:
        columns = [c for c in ("id", "cif", "task", "source_id") if c in rated.columns]
        rated[columns].to_csv(tmp, index=False)
    first = table[table["attempt"] == 1]
    stats: dict[str, Any] = {
        "requests": int(table["id"].nunique()),
        "attempts": len(table),
        "parsed": len(ok),
        "first_attempt_parse_rate": float((first["status"] == "ok").mean()) if len(first) else 0.0,
        "by_task": {
            str(task): {
                "requests": int(group["id"].nunique()),
                "parsed": int((group["status"] == "ok").sum()),
                "attempts": len(group),
            }
            for task, group in table.groupby("task")
        },
        "top_reasons": table.loc[table["status"] != "ok", "reason"].str[:60].value_counts().head(5).to_dict(),
    }
    infill = table[(table["task"] == "infill") & (table["status"] == "ok")]
    if len(infill):
        identity = infill["proposed_element"].astype(str) == infill["masked_element"].astype(str)
        stats["infill_identity"] = int(identity.sum())  # the masked element proposed back: no new material
    if baseline is not None:
        stats["infill_uniform_structures"] = int((rated["task"] == "infill_uniform").sum())
    with atomic_output(summary) as tmp:
        tmp.write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def ipt_files(
    spec: ModelSpec,
    adapter: Path | None,
    structures: Path,
    out: Path,
    *,
    translations: int = 8,
    max_structures: int | None = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """IPT of the (adapted) model on the first ``max_structures`` readable structures, as JSON."""
    from xtalgen.lm.perplexity import ipt  # noqa: PLC0415

    model, tokenizer, adapter = _model_and_tokenizer(spec, adapter)
    chosen = [s for _, s, _ in read_structures(structures) if s is not None]  # ordered and sane
    chosen = chosen[:max_structures] if max_structures else chosen
    result = ipt(model, tokenizer, chosen, translations=translations, seed=seed).to_dict()
    result |= {"structures": str(structures), "adapter": str(adapter) if adapter else None}
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return result
