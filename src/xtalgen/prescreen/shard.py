"""The prescreen of one shard: pre-filter and relax (resumable), then rate against the hull.

Relaxation is the expensive half. Each relaxation is appended to a JSON-lines journal as soon as it
exists, keyed on the structure, the SHA-256 of the potential's weights and the relaxation settings,
so a shard killed by a crash or a wall-time limit resumes where it stopped, and a changed structure,
model or setting is relaxed afresh. Rating is cheap and always done anew from the relaxed energies:
a different hull re-rates every structure without relaxing any of them again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import pandas as pd
from pymatgen.core import Structure

from xtalgen.hull.energies import CompatibilityError, corrected_entry
from xtalgen.hull.flags import RatingSettings, flag_of, is_flagged
from xtalgen.hull.rates import is_metastable
from xtalgen.hull.reference import HullCoverage, HullError, e_above_hull, load_hull
from xtalgen.io import Progress, atomic_output, die_with_parent, job_cores, output_lock
from xtalgen.journal import LineJournal, read_journal
from xtalgen.prescreen.prefilter import prefilter_reason
from xtalgen.prescreen.relax import RelaxationAbortedError, relax
from xtalgen.prescreen.settings import PrescreenSettings, RelaxSettings
from xtalgen.structures_io import structure_sha

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from xtalgen.hull.reference import ReferenceHull
    from xtalgen.structures_io import StructureInput

__all__ = [
    "RELAX_COLUMNS",
    "RESULT_COLUMNS",
    "PrescreenSettings",
    "converged",
    "prescreen",
    "rate",
    "relax_structures",
    "select_metastable",
]

# What a relaxation leaves, independent of any hull.
RELAX_COLUMNS = [
    "id",
    "structure_sha",
    "formula",
    "status",
    "reason",
    "n_steps",
    "converged",
    "max_force",
    "energy_per_atom",
    "seconds",
    "cif_relaxed",
]
RESULT_COLUMNS = [
    "id",
    "task",
    "source_id",
    "structure_sha",
    "formula",
    "status",
    "reason",
    "flag",
    "hull_compounds",
    "n_steps",
    "converged",
    "max_force",
    "energy_per_atom",
    "correction_per_atom",
    "e_form_per_atom",
    "e_above_hull",
    "seconds",
    "cif_relaxed",
]
log = logging.getLogger(__name__)


_POTENTIAL: Any = None


def _init_worker(model: str, aggregation: str, threads: int) -> None:
    """Load the potential once per worker process, not once per structure."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)  # before torch starts its thread pools in this process
    import torch  # noqa: PLC0415

    from xtalgen.prescreen.potential import load_potential  # noqa: PLC0415

    torch.set_num_threads(threads)
    global _POTENTIAL  # noqa: PLW0603 - one potential per worker process
    _POTENTIAL = load_potential(model, aggregation).potential  # type: ignore[arg-type]


def _init_pool_worker(model: str, aggregation: str, threads: int) -> None:
    """A pool worker ends with its parent (kill -9 included), then loads the potential."""
    die_with_parent()
    _init_worker(model, aggregation, threads)


def _relax_one(job: tuple[str, str, str, str, RelaxSettings]) -> dict[str, Any]:
    structure_id, key, sha, cif, settings = job
    structure = Structure.from_str(cif, fmt="cif")
    out: dict[str, Any] = {
        "id": structure_id,
        "structure_sha": sha,
        "key": key,
        "formula": structure.composition.reduced_formula,
    }
    try:
        result = relax(structure, _POTENTIAL, settings)
    except RelaxationAbortedError as err:
        return out | {"status": "failed", "reason": str(err)}
    except Exception as err:  # one structure never kills the shard
        return out | {
            "status": "failed",
            "reason": f"relaxation error: {type(err).__name__}: {err}",
        }
    reason = prefilter_reason(result.structure, min_sites=1)
    if reason:
        return out | {"status": "failed", "reason": f"relaxed structure: {reason}", "n_steps": result.n_steps}
    return out | {
        "status": "relaxed",
        "n_steps": result.n_steps,
        "converged": result.converged,
        "max_force": result.max_force,
        "energy_per_atom": result.energy / len(result.structure),
        "seconds": round(result.seconds, 3),
        "cif_relaxed": result.structure.to(fmt="cif"),
    }


def _rate(
    record: dict[str, Any], hull: ReferenceHull, coverage: HullCoverage, settings: RatingSettings
) -> dict[str, Any]:
    """Add MP2020 correction, formation energy, E_hull, hull coverage and flag to a relaxed record."""
    structure = Structure.from_str(record["cif_relaxed"], fmt="cif")
    energy = record["energy_per_atom"] * len(structure)
    try:
        entry = corrected_entry(structure, energy, entry_id=record["id"])
        ehull = e_above_hull(hull, entry)
        e_form = float(hull.get_form_energy_per_atom(entry))
    except (CompatibilityError, HullError, ValueError) as err:
        return record | {"status": "unrated", "reason": str(err)}
    compounds = coverage.compounds(structure.composition)
    flag, reason = flag_of(ehull, compounds, len(structure.composition.elements), settings)
    return record | {
        "status": "ok",
        "reason": reason,
        "flag": flag,
        "hull_compounds": compounds,
        "correction_per_atom": entry.correction_per_atom,
        "e_form_per_atom": e_form,
        "e_above_hull": ehull,
    }


def rate(relaxed: pd.DataFrame, hull: ReferenceHull, settings: RatingSettings | None = None) -> pd.DataFrame:
    """Results of relaxation records rated on ``hull``; records that did not relax pass through."""
    settings = settings or RatingSettings()
    coverage = HullCoverage(hull)
    rows = []
    for row in relaxed.to_dict("records"):
        record = {k: v for k, v in row.items() if not (isinstance(v, float) and pd.isna(v))}
        rows.append(_rate(record, hull, coverage, settings) if record["status"] == "relaxed" else record)
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Journal records by their key (structure, weights and settings), never by id.

    Ids are renumbered from run to run; a structure relaxed under one id is reused under another, and
    a new structure under an old id is relaxed anew.
    """
    return {record["key"]: record for record in read_journal(path) if "key" in record}


def _relaxed(jobs: list[tuple[str, str, str, str, RelaxSettings]], settings: PrescreenSettings) -> Iterable:
    if not jobs:
        return []
    cores = settings.threads or job_cores()
    workers = max(1, min(settings.workers or cores, len(jobs)))
    threads = max(1, cores // workers)
    if workers == 1:
        _init_worker(settings.model, settings.aggregation, threads)
        return map(_relax_one, jobs)
    # Spawned, not forked: a fork inherits the parent's OpenMP pool, which stalls torch in the child.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_pool_worker,
        initargs=(settings.model, settings.aggregation, threads),
    )
    return _pooled(pool, jobs)


def _pooled(pool: ProcessPoolExecutor, jobs: list) -> Iterable:
    with pool:
        yield from pool.map(_relax_one, jobs)


def relax_structures(
    inputs: list[StructureInput],
    journal_path: Path,
    settings: PrescreenSettings,
    out_csv: Path | None = None,
) -> pd.DataFrame:
    """Pre-filter and relax ``inputs``, resuming from and appending to the journal."""
    from xtalgen.prescreen.potential import check_potential_source, weights_sha256  # noqa: PLC0415

    check_potential_source(settings.model)  # once, here, rather than in every worker
    with output_lock(journal_path):  # a second run on the same output would relax everything twice
        return _relax_locked(inputs, journal_path, settings, weights_sha256(settings.model), out_csv)


def _relax_locked(
    inputs: list[StructureInput],
    journal_path: Path,
    settings: PrescreenSettings,
    weights: str,
    out_csv: Path | None,
) -> pd.DataFrame:
    journaled = _read_journal(journal_path)
    done: dict[str, dict[str, Any]] = {}  # by id, for this run's table
    journal = LineJournal(journal_path, redone="that structure is relaxed again")
    reused = 0
    try:
        jobs = []
        for structure_id, structure, unreadable in inputs:
            cif = structure.to(fmt="cif") if structure is not None else ""
            key = settings.key(cif or str(unreadable), weights)
            sha = structure_sha(structure) if structure is not None else ""
            if key in journaled:
                done[structure_id] = journaled[key] | {"id": structure_id, "structure_sha": sha}
                reused += 1
                continue
            reason = unreadable or prefilter_reason(
                structure, min_sites=settings.min_sites, max_sites=settings.max_sites
            )
            if reason:
                formula = structure.composition.reduced_formula if structure else ""
                record = {"id": structure_id, "structure_sha": sha, "key": key, "formula": formula}
                record |= {"status": "skipped", "reason": reason}
                journal.write(record)
                done[structure_id] = journaled[key] = record
                continue
            jobs.append((structure_id, key, sha, cif, settings.relax))
        log.info(
            "%d of %d structures already in %s; %d to relax", reused, len(inputs), journal_path, len(jobs)
        )
        progress = Progress(f"relaxations ({journal_path.stem})", len(jobs))
        for count, record in enumerate(_relaxed(jobs, settings), start=1):
            journal.write(record)
            done[record["id"]] = journaled[record["key"]] = record
            progress.update(count, f"{record['id']}: {record['status']}", force=count == len(jobs))
    finally:
        journal.close()
    order = [structure_id for structure_id, _, _ in inputs]
    table = pd.DataFrame([done[i] for i in order if i in done], columns=RELAX_COLUMNS)
    if out_csv is not None:
        with atomic_output(out_csv) as tmp:
            table.to_csv(tmp, index=False)
    return table


def prescreen(
    inputs: list[StructureInput],
    hull_path: Path,
    out_csv: Path,
    journal_path: Path,
    settings: PrescreenSettings,
    *,
    rating: RatingSettings | None = None,
) -> pd.DataFrame:
    """Relax ``inputs`` (journaled, resumable), then rate them all on the hull and write ``out_csv``."""
    hull = load_hull(hull_path)  # before any relaxation: a bad hull file fails at once
    table = rate(relax_structures(inputs, journal_path, settings), hull, rating)
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table


def converged(results: pd.DataFrame) -> pd.Series:
    """Rows whose relaxation reached ``fmax`` (FIRE's own test on the last forces)."""
    if "converged" not in results.columns:
        return pd.Series(True, index=results.index)
    return results["converged"].astype(str).str.lower().isin({"true", "1", "1.0"})


def select_metastable(
    results: pd.DataFrame, ehull_max: float, *, keep_flagged: bool = False, keep_unconverged: bool = False
) -> pd.DataFrame:
    """Rated structures with E_hull below ``ehull_max`` (eV/atom), most stable first.

    Flagged structures stay out unless ``keep_flagged``: their E_hull is not a distance to the hull.
    Unconverged relaxations stay out unless ``keep_unconverged``: their energy is not a minimum's.
    """
    ok = (results["status"] == "ok") & (keep_flagged | ~is_flagged(results))
    rated = results[ok & (keep_unconverged | converged(results))]
    chosen = rated[is_metastable(rated["e_above_hull"], ehull_max)]
    return chosen.sort_values("e_above_hull").reset_index(drop=True)
