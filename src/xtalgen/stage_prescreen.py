"""File-level entry points of the prescreen stage, shared by the CLI and the Snakemake scripts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd

from xtalgen.dataset import PROPERTY_COLUMNS, REQUIRED_COLUMNS, read_table
from xtalgen.hull import dataset_entries, elemental_references, load_entries, save_hull
from xtalgen.io import atomic_output
from xtalgen.model_check import check_accuracy, measure_errors, plot_errors
from xtalgen.potential import load_potential
from xtalgen.sources import find_split_file

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["build_hull_file", "dataset_tables", "validate_potential_files"]

_RENAME = {**REQUIRED_COLUMNS, **PROPERTY_COLUMNS}


def dataset_tables(paths: list[Path]) -> list[pd.DataFrame]:
    """Tables with columns id, formula, formation_energy_per_atom, e_above_hull, cif.

    Each path is a data-stage ``structures.csv``, an MP-20-style CSV, or a folder of MP-20 splits.
    """
    tables = []
    for path in paths:
        if path.is_dir():
            files = [find_split_file(path, s) for s in ("train", "val", "test")]
            tables.extend(read_table(f).rename(columns=_RENAME) for f in files)
        elif path.name == "structures.csv":
            tables.append(pd.read_csv(path))
        else:
            tables.append(read_table(path).rename(columns=_RENAME))
    return tables


def build_hull_file(
    out: Path,
    *,
    dataset: list[Path] | None = None,
    elemental_refs: Path | None = None,
    entries: Path | None = None,
) -> int:
    """Build and save the hull from the dataset's phases or from a file of MP entries."""
    if entries is not None:
        hull_entries = load_entries(entries)
    else:
        if not dataset or elemental_refs is None:
            raise ValueError("the dataset hull needs --dataset and --elemental-refs")
        references = elemental_references(elemental_refs)
        hull_entries = dataset_entries(dataset_tables(dataset), references)
    with atomic_output(out) as tmp:
        save_hull(hull_entries, tmp)
    return len(hull_entries)


def validate_potential_files(
    *,
    dataset: list[Path],
    elemental_refs: Path,
    model: str,
    aggregation: str,
    out_json: Path,
    out_png: Path | None,
    size: int,
    max_error: float,
    seed: int = 0,
) -> float:
    """Measure the potential, write the figures, then apply the gate."""
    references = elemental_references(elemental_refs)
    table = pd.concat(dataset_tables(dataset), ignore_index=True)
    loaded = load_potential(model, aggregation)  # type: ignore[arg-type]
    errors = measure_errors(table, references, loaded.potential, size=size, seed=seed)
    median = float(errors["error"].abs().median())
    summary = {
        "model": model,
        "aggregation": loaded.aggregation,
        "n": len(errors),
        "median_abs_error": median,
        "max_model_error": max_error,
        "passed": median <= max_error,
        "errors": errors.to_dict("records"),
    }
    if out_png is not None:
        with atomic_output(out_png) as tmp:
            plot_errors(errors, tmp, f"{model} ({loaded.aggregation})")
    check_accuracy(errors, max_error)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return median
