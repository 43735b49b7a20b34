"""The data stage: one split's CSV to a structures table, prompt records and a rejects table.

Each row draws from its own random stream, seeded by (seed, split, row), so the output is the same
whatever the number of workers and whichever rows were rejected around it.
"""

from __future__ import annotations

import json
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xtalgen.dataset.mp20 import DatasetError, Entry, parse_row, read_table
from xtalgen.dataset.settings import PrepareSettings
from xtalgen.errors import in_terms
from xtalgen.io import atomic_output, die_with_parent
from xtalgen.structures_io import refuse_repeated_ids
from xtalgen.text.codec import encode
from xtalgen.text.prompts import make_record

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

__all__ = [
    "STRUCTURE_COLUMNS",
    "PrepareSettings",
    "SplitSummary",
    "prepare_dataset",
    "prepare_split",
    "split_outputs",
]

STRUCTURE_COLUMNS = [
    "id",
    "formula",
    "spacegroup",
    "formation_energy_per_atom",
    "e_above_hull",
    "band_gap",
    "elements",
    "n_sites",
    "cif",
    "text",
]
REJECT_COLUMNS = ["split", "row", "id", "reason"]


@dataclass(frozen=True)
class SplitSummary:
    """Counts for one split, written beside its tables for the report."""

    split: str
    source: str
    rows: int
    structures: int
    rejects: int
    records: int
    tasks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def split_outputs(out_dir: Path) -> dict[str, Path]:
    """The files the stage writes for one split, by role."""
    return {
        "structures": out_dir / "structures.csv",
        "prompts": out_dir / "prompts.jsonl",
        "rejects": out_dir / "rejects.csv",
        "summary": out_dir / "summary.json",
    }


def _row_rng(seed: int, split: str, row: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(split.encode()), row])


def _structure_row(entry: Entry, text: str) -> dict[str, Any]:
    composition = entry.structure.composition
    return {
        "id": entry.id,
        **entry.properties,
        "elements": " ".join(sorted(el.symbol for el in composition.elements)),
        "n_sites": len(entry.structure),
        "cif": entry.cif,
        "text": text,
    }


_Job = tuple[dict[str, Any], int, str, PrepareSettings]
_Result = tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any] | None]


def _process_row(job: _Job) -> _Result:
    """Parse, encode and draw prompts for one row (runs in a worker process)."""
    row, row_number, split, settings = job
    parsed = parse_row(row, row_number)
    if not isinstance(parsed, Entry):
        return None, [], {"split": split, **asdict(parsed)}
    rng = _row_rng(settings.seed, split, row_number)
    augment = split in settings.augment_splits
    copies = settings.copies if augment else 1
    records = []
    for copy in range(copies):
        translation = rng.random(3) if augment and settings.translate else None
        record = make_record(
            parsed.structure,
            parsed.properties,
            rng,
            record_id=parsed.id,
            copy=copy,
            infill_fraction=settings.infill_fraction,
            translation=translation,
            formula_style=settings.formula_style,
        )
        records.append(record.to_dict())
    return _structure_row(parsed, encode(parsed.structure)), records, None


def _results(jobs: list[_Job], workers: int) -> Iterable[_Result]:
    if workers == 1 or len(jobs) < 64:
        return map(_process_row, jobs)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent)
    chunk = max(16, len(jobs) // (workers * 8))
    return _closing_map(pool, jobs, chunk)


def _closing_map(pool: ProcessPoolExecutor, jobs: list[_Job], chunk: int) -> Iterable[_Result]:
    with pool:
        yield from pool.map(_process_row, jobs, chunksize=chunk)


def prepare_split(
    source: Path, split: str, out_dir: Path, settings: PrepareSettings | None = None
) -> SplitSummary:
    """Run the data stage for one split and write its tables into ``out_dir``.

    Raises
    ------
    DatasetError
        When the file is unusable, or a row is bad and ``settings.strict`` is on.
    """
    settings = settings or PrepareSettings()
    start = time.perf_counter()
    table = read_table(source, settings.max_rows)
    refuse_repeated_ids(table["material_id"], source, "material_id values", DatasetError)
    rows = table.to_dict("records")
    jobs: list[_Job] = [(row, i + 1, split, settings) for i, row in enumerate(rows)]

    structures: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for structure_row, row_records, reject in _results(jobs, settings.workers):
        if reject is not None:
            if settings.strict:
                raise DatasetError(
                    f"{source}, row {reject['row']} (id {reject['id'] or '?'}): "
                    f"{reject['reason']}. Fix the row, or "
                    + in_terms("set data.strict: false", "drop --strict")
                    + " to skip bad rows into the rejects table"
                )
            rejects.append(reject)
            continue
        structures.append(structure_row)
        records.extend(row_records)

    outputs = split_outputs(out_dir)
    tasks = pd.Series([r["task"] for r in records], dtype=object).value_counts().to_dict()
    summary = SplitSummary(
        split=split,
        source=str(source),
        rows=len(rows),
        structures=len(structures),
        rejects=len(rejects),
        records=len(records),
        tasks={str(k): int(v) for k, v in tasks.items()},
        seconds=round(time.perf_counter() - start, 3),
    )
    with atomic_output(outputs["structures"]) as tmp:
        pd.DataFrame(structures, columns=STRUCTURE_COLUMNS).to_csv(tmp, index=False)
    with atomic_output(outputs["prompts"]) as tmp, tmp.open("w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    with atomic_output(outputs["rejects"]) as tmp:
        pd.DataFrame(rejects, columns=REJECT_COLUMNS).to_csv(tmp, index=False)
    with atomic_output(outputs["summary"]) as tmp:
        tmp.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def prepare_dataset(
    sources: Mapping[str, Path], out_dir: Path, settings: PrepareSettings | None = None
) -> list[SplitSummary]:
    """Run the data stage for every split; each split goes to ``out_dir/<split>/``."""
    return [prepare_split(path, split, out_dir / split, settings) for split, path in sources.items()]
