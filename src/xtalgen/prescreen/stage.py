"""File-level entry points of the prescreen stage, shared by the CLI and the Snakemake scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from xtalgen.dataset.mp20 import PROPERTY_COLUMNS, REQUIRED_COLUMNS, read_table
from xtalgen.dataset.sources import find_split_file
from xtalgen.errors import InputError
from xtalgen.hull.rates import definitions, stability_rates
from xtalgen.hull.reference import (
    dataset_entries,
    elemental_references,
    hull_name,
    load_entries,
    mp_gga_entries,
    save_hull,
)
from xtalgen.io import RECORD_TEXT, atomic_output, read_csv
from xtalgen.prescreen.gate import check_accuracy, measure_errors
from xtalgen.prescreen.potential import load_potential

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "build_hull_file",
    "dataset_tables",
    "flagged_path",
    "rate_files",
    "select_files",
    "split_structures",
    "validate_potential_files",
]

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
            tables.append(read_csv(path, "a data-stage structures table"))
        else:
            tables.append(read_table(path).rename(columns=_RENAME))
    return tables


def build_hull_file(
    out: Path,
    *,
    dataset: list[Path] | None = None,
    elemental_refs: Path | None = None,
    entries: Path | None = None,
    mp_api_structures: Path | None = None,
    mp_api_cache: Path | None = None,
    info: Path | None = None,
    source: str | None = None,
) -> int:
    """Build and save the hull from the dataset's phases, a file of MP entries, or the MP API.

    ``info`` receives what names the hull for the manifest and the report: its reference, sources,
    entry count and the SHA-256 of the saved file.
    """
    if entries is not None:
        reference, sources = "entries", [source or str(entries)]
        hull_entries = mp_gga_entries(load_entries(entries))
        if not hull_entries:
            raise InputError(f"{source or entries}: no GGA or GGA+U entries to build a hull from")
    elif mp_api_structures is not None:
        from xtalgen.dataset.sources import default_cache_dir  # noqa: PLC0415
        from xtalgen.hull.mp_api import mp_api_entries  # noqa: PLC0415
        from xtalgen.structures_io import read_structures  # noqa: PLC0415

        reference, sources = "mp_api", ["Materials Project API (GGA_GGA+U)"]
        compositions = [s.composition for _, s, _ in read_structures(mp_api_structures) if s is not None]
        hull_entries = mp_api_entries(compositions, mp_api_cache or default_cache_dir() / "mp_api")
    else:
        if not dataset or elemental_refs is None:
            raise InputError("the dataset hull needs --dataset and --elemental-refs")
        reference, sources = "dataset", [str(p) for p in dataset]
        references = elemental_references(elemental_refs)
        hull_entries = dataset_entries(dataset_tables(dataset), references)
    with atomic_output(out) as tmp:
        save_hull(hull_entries, tmp)
    if info is not None:
        from xtalgen.dataset.sources import sha256sum  # noqa: PLC0415

        record = {"reference": reference, "sources": sources, "entries": len(hull_entries)}
        record["name"] = hull_name(reference, sources, len(hull_entries))
        record["sha256"] = sha256sum(out)
        with atomic_output(info) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n")
    return len(hull_entries)


def validate_potential_files(
    *,
    dataset: list[Path],
    elemental_refs: Path,
    model: str,
    aggregation: str,
    out_json: Path,
    size: int,
    max_error: float,
    seed: int = 0,
    on_errors: Callable[[pd.DataFrame, str], None] | None = None,
) -> float:
    """Measure the potential, hand its errors and a label to ``on_errors``, then apply the gate.

    ``on_errors`` runs before the gate, so a caller can draw the parity plot of a potential that fails.
    """
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
    if on_errors is not None:
        on_errors(errors, f"{Path(str(model)).name} ({loaded.aggregation} aggregation)")
    check_accuracy(errors, max_error)
    with atomic_output(out_json) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return median


def split_structures(
    source: Path, shards: list[Path], max_structures: int | None = None, *, all_unconditional: bool = False
) -> int:
    """Deal the structures round-robin into shard CSVs (``id, cif``), so shards take equal time.

    With ``max_structures`` and a ``task`` column, the tasks take turns, so that a capped run still
    rates some of every task (unconditional, conditional, infill, the infill baseline). With
    ``all_unconditional``, every unconditional structure is rated and the cap applies to the other
    tasks: Table 1's metastable rate is over all unconditional samples, so a cap must not cut it.
    """
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    table = cif_table(source)
    if max_structures is not None:
        kept = table.iloc[0:0]
        if all_unconditional and "task" in table.columns:
            unconditional = table["task"] == "unconditional"
            kept, table = table[unconditional], table[~unconditional]
        if "task" in table.columns:
            turn = table.groupby("task", sort=False).cumcount()
            table = table.assign(_turn=turn).sort_values("_turn", kind="stable").drop(columns="_turn")
        table = pd.concat([kept, table.head(max_structures)])
    for index, shard in enumerate(shards):
        with atomic_output(shard) as tmp:
            table.iloc[index :: len(shards)].to_csv(tmp, index=False)
    return len(table)


def rate_files(
    relaxed: list[Path],
    hull: Path,
    out: Path,
    max_below_hull: float = 0.2,
    *,
    structures: Path | None = None,
) -> pd.DataFrame:
    """One results table: the shards' relaxations, each rated on ``hull`` with its coverage and flag.

    ``structures`` (the prescreen's input) gives each row its task and source id.
    """
    from xtalgen.hull.flags import RatingSettings  # noqa: PLC0415
    from xtalgen.hull.reference import load_hull  # noqa: PLC0415
    from xtalgen.prescreen.shard import RELAX_COLUMNS, rate  # noqa: PLC0415

    tables = [pd.read_csv(p, keep_default_na=False, na_values=[""], dtype=RECORD_TEXT) for p in relaxed]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=RELAX_COLUMNS)
    results = rate(table, load_hull(hull), RatingSettings(max_below_hull=max_below_hull))
    if structures is not None:
        results = with_requests(results, structures)
    with atomic_output(out) as tmp:
        results.to_csv(tmp, index=False)
    return results


def with_requests(results: pd.DataFrame, structures: Path) -> pd.DataFrame:
    """``results`` with each structure's ``task`` and ``source_id`` from the table it came from."""
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    table = cif_table(structures)
    for column in ("task", "source_id"):
        if column in table.columns:
            values = dict(zip(table["id"].astype(str), table[column].astype(str), strict=True))
            results[column] = results["id"].astype(str).map(values).fillna("")
    return results


def flagged_path(results_csv: Path) -> Path:
    """Where the flagged rows of a results table go: ``<name>.flagged.csv`` beside it."""
    return results_csv.with_name(results_csv.stem + ".flagged.csv")


def select_files(
    results: Path,
    ehull_max: float,
    out_csv: Path,
    out_summary: Path,
    *,
    out_flagged: Path | None = None,
    keep_flagged: bool = False,
    keep_unconverged: bool = False,
    structures: Path | None = None,
    hull: str | None = None,
) -> pd.DataFrame:
    """The metastable set at ``ehull_max``, the flagged rows and a summary of the rates.

    The summary's rates are those of ``evaluate``; given the prescreened ``structures`` with a
    ``task`` column, it also gives them per task, over every structure of the task handed in.
    """
    from xtalgen.hull.flags import is_flagged  # noqa: PLC0415
    from xtalgen.prescreen.shard import converged, select_metastable  # noqa: PLC0415

    table = pd.read_csv(results, keep_default_na=False, na_values=[""], dtype=RECORD_TEXT)
    chosen = select_metastable(table, ehull_max, keep_flagged=keep_flagged, keep_unconverged=keep_unconverged)
    tasks = _tasks(structures) if structures is not None else None
    with atomic_output(out_csv) as tmp:
        chosen.to_csv(tmp, index=False)
    flagged = table[(table["status"] == "ok") & is_flagged(table)]
    if out_flagged is not None:
        with atomic_output(out_flagged) as tmp:
            flagged.to_csv(tmp, index=False)
    rated = table[table["status"] == "ok"]
    summary = {
        "hull": hull,
        "structures": len(table),
        "status": {str(k): int(v) for k, v in table["status"].value_counts().items()},
        "ehull_max": ehull_max,
        "selected": len(chosen),
        "flagged": {str(k): int(v) for k, v in flagged["flag"].value_counts().items()},
        "keep_flagged": keep_flagged,
        "unconverged": int((~converged(rated)).sum()),
        "keep_unconverged": keep_unconverged,
        **_rates(table, len(table), keep_flagged, ehull_max),
        "median_e_above_hull": float(rated["e_above_hull"].median()) if len(rated) else None,
    }
    if tasks is not None:
        summary["by_task"] = _rates_by_task(table, tasks, keep_flagged, ehull_max)
    summary["definitions"] = {
        "selected": f"rated, unflagged, converged, E_hull < ehull_max ({ehull_max:g} eV/atom)",
        "unconverged": "rated structures whose relaxation stopped at the step limit before FIRE "
        "reached fmax (rated and counted; selected only with keep_unconverged)",
    } | definitions(ehull_max)
    with atomic_output(out_summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return chosen


def _tasks(structures: Path) -> dict[str, str] | None:
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    table = cif_table(structures)
    if "task" not in table.columns:
        return None
    return dict(zip(table["id"].astype(str), table["task"].astype(str), strict=True))


def _rates(table: pd.DataFrame, n_all: int, keep_flagged: bool, ehull_max: float) -> dict[str, Any]:
    from xtalgen.hull.flags import is_flagged  # noqa: PLC0415

    ok = table["status"] == "ok"
    ehull = table["e_above_hull"].where(ok).astype(float).to_numpy()
    flagged = is_flagged(table).to_numpy()
    return stability_rates(ehull, flagged, n_all, keep_flagged=keep_flagged, ehull_max=ehull_max)


def _rates_by_task(
    table: pd.DataFrame, tasks: dict[str, str], keep_flagged: bool, ehull_max: float
) -> dict[str, Any]:
    """Per task, over every structure of that task handed to the prescreen (rated or not)."""
    table_tasks = table["id"].astype(str).map(tasks).fillna("unknown")
    out = {}
    for task in sorted(set(tasks.values()) | set(table_tasks)):
        n_all = sum(1 for t in tasks.values() if t == task)
        part = table[table_tasks == task]
        out[task] = {"structures": n_all, **_rates(part, n_all, keep_flagged, ehull_max)}
    return out
