"""The tiny base's pretraining corpus: the training split's records plus extra MP-20-style rows.

A base of a few million parameters learns what a crystal looks like from more structures than the
1,000 of a pilot split. Extra rows go through the data stage like any split; rows whose id is in the
run's held-out splits (validation, test) are dropped, so the validation loss and the test conditions
stay unseen, and the structures used are written beside the records so that novelty can be measured
against everything the model saw.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.io import atomic_output, read_csv

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CorpusTasks", "pretraining_corpus"]
log = logging.getLogger(__name__)
CorpusTasks = Literal["all", "generation"]


def _ids(path: Path) -> set[str]:
    return set(read_csv(path, "a structures table with an id column", dtype={"id": str})["id"])


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def pretraining_corpus(
    train_records: Path,
    extra: Sequence[Path],
    held_out: Sequence[Path],
    out_dir: Path,
    *,
    settings: PrepareSettings | None = None,
    tasks: CorpusTasks = "all",
) -> dict[str, Any]:
    """Write ``out_dir/{prompts.jsonl, structures.csv, summary.json}``; returns the summary.

    ``tasks: generation`` keeps only generation records (unconditional and conditional), leaving
    infill, which the LoRA stage teaches, out of pretraining. The extra rows then draw no infill at
    all, so every extra structure gives the base a crystal to learn rather than a third of them
    being drawn as infill and dropped.
    """
    settings = replace(settings or PrepareSettings(), augment_splits=("pretrain",))
    if tasks == "generation":
        settings = replace(settings, infill_fraction=0.0)
    excluded = set().union(*(_ids(p) for p in held_out)) if held_out else set()
    records = _lines(train_records)
    structures: list[pd.DataFrame] = []
    sources: dict[str, dict[str, int]] = {}
    for index, source in enumerate(extra):
        with tempfile.TemporaryDirectory(prefix="xtalgen-corpus-") as tmp:
            summary = prepare_split(
                source, "pretrain", Path(tmp), replace(settings, seed=settings.seed + index)
            )
            table = read_csv(Path(tmp) / "structures.csv", "structures", dtype={"id": str})
            lines = _lines(Path(tmp) / "prompts.jsonl")
        keep = ~table["id"].isin(excluded)
        kept_ids = set(table.loc[keep, "id"])
        records += [line for line in lines if json.loads(line)["id"] in kept_ids]
        structures.append(table.loc[keep, ["id", "formula", "cif"]])
        sources[str(source)] = {
            "rows": summary.rows,
            "rejects": summary.rejects,
            "held_out_dropped": int((~keep).sum()),
            "structures": int(keep.sum()),
        }
    if tasks == "generation":
        records = [line for line in records if json.loads(line)["task"] != "infill"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_dir / "prompts.jsonl") as tmp:
        tmp.write_text("\n".join(records) + "\n")
    columns = ["id", "formula", "cif"]
    used = pd.concat(structures, ignore_index=True) if structures else pd.DataFrame(columns=columns)
    used = used.drop_duplicates("id")
    with atomic_output(out_dir / "structures.csv") as tmp:
        used.to_csv(tmp, index=False)
    summary = {
        "train_records": str(train_records),
        "records": len(records),
        "tasks": tasks,
        "extra": sources,
        "extra_structures": len(used),
        "held_out": [str(p) for p in held_out],
    }
    with atomic_output(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("pretraining corpus: %d records, %d extra structures", len(records), len(used))
    return summary
