"""The DFT stage as the workflow runs it: file in, files out, each step safe to repeat."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

from xtalgen.dft.flows import DftSettings
from xtalgen.errors import InputError
from xtalgen.io import atomic_output

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd


__all__ = ["collect_files", "prepare_files", "submit_files"]


def prepare_files(candidates: Path, out_dir: Path, manifest: Path, values: dict[str, Any]) -> pd.DataFrame:
    """Flows and inputs of the first ``dft.max_candidates`` candidates (the most stable first).

    Controls (the uniform infill baseline) are left out unless ``dft.include_controls``.
    """
    from xtalgen.dft.prepare import prepare_flows, read_candidates, selected  # noqa: PLC0415

    settings = DftSettings.from_config(values)
    chosen = selected(read_candidates(candidates), settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = prepare_flows(chosen, out_dir, settings)
    shutil.copyfile(out_dir / "manifest.csv", manifest)
    return table


def submit_files(
    prepared: Path, state: Path, out: Path, *, backend: str, store: str | None, launchpad: str | None
) -> pd.DataFrame:
    """Submit what is not submitted yet; ``out`` lists what happened to every candidate."""
    from xtalgen.dft.state import StateConfig  # noqa: PLC0415
    from xtalgen.dft.submit import submit  # noqa: PLC0415

    if backend == "prepare":
        raise InputError("dft.backend is prepare: set it to local or fireworks to submit")
    table = submit(prepared, state, StateConfig(backend, store=store, launchpad=launchpad))
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    return table


def collect_files(
    state: Path,
    hull: Path,
    structures: Path | None,
    *,
    manifest: Path | None = None,
    ehull_max: float = 0.1,
    out_csv: Path,
    out_summary: Path,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The run's candidates with E_hull^DFT on the run's hull, and their counts and rates per task.

    ``manifest`` (the run's DFT manifest) limits the table to this run's candidates; without it,
    every submission in ``state`` is listed. ``structures`` (what the prescreen was handed) gives
    each task's number of samples, the DFT stable rate's denominator.
    """
    from xtalgen.dft.collect import collect, summarize, this_run  # noqa: PLC0415
    from xtalgen.hull.reference import load_hull  # noqa: PLC0415
    from xtalgen.io import RECORD_TEXT, read_csv  # noqa: PLC0415
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    table = collect(state, load_hull(hull), ehull_max=ehull_max)
    generated = cif_table(structures) if structures else None
    tasks = None
    if generated is not None and "task" in generated.columns:
        tasks = dict(zip(generated["id"].astype(str), generated["task"].astype(str), strict=True))
    if manifest is not None:
        rows = read_csv(manifest, "the DFT manifest", keep_default_na=False, dtype=RECORD_TEXT)
        table = this_run(table, rows, tasks)
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    by_task = None
    if tasks is not None:
        by_task = {task: list(tasks.values()).count(task) for task in set(tasks.values())}
    n_samples = len(generated) if generated is not None else None
    summary = summarize(table, n_samples, by_task=by_task, ehull_max=ehull_max)
    with atomic_output(out_summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return table, summary
