"""The prescreen of one shard: pre-filter, relax, correct, rate against the hull; resumable.

Each result is appended to a JSON-lines journal as soon as it exists, so a shard killed by a crash or
a wall-time limit resumes where it stopped: ids already in the journal are never recomputed. Each
record carries a key of its input structure and settings, so a changed structure or setting is
computed afresh instead of being served from a stale journal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from pymatgen.core import Structure

from xtalgen.io import atomic_output, job_cores
from xtalgen.prescreen.energies import CompatibilityError, corrected_entry
from xtalgen.prescreen.hull import HullError, e_above_hull, load_hull
from xtalgen.prescreen.prefilter import prefilter_reason
from xtalgen.prescreen.relax import RelaxationAbortedError, RelaxSettings, relax

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from xtalgen.structures_io import StructureInput

__all__ = ["RESULT_COLUMNS", "PrescreenSettings", "prescreen", "select_metastable"]

RESULT_COLUMNS = [
    "id",
    "formula",
    "status",
    "reason",
    "n_steps",
    "converged",
    "energy_per_atom",
    "correction_per_atom",
    "e_form_per_atom",
    "e_above_hull",
    "seconds",
    "cif_relaxed",
]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrescreenSettings:
    """What to relax with, and which structures are worth relaxing."""

    model: str
    aggregation: str = "auto"
    relax: RelaxSettings = field(default_factory=RelaxSettings)
    min_sites: int = 2
    max_sites: int | None = None
    # Worker processes; None: one per core of the job (measured: one thread per small graph is
    # fastest, so cores are better spent on workers than on torch threads).
    workers: int | None = None
    # Cores for the whole shard, shared out among the workers; None: the job's CPU affinity.
    threads: int | None = None

    @classmethod
    def from_config(cls, values: dict[str, Any], threads: int | None = None) -> PrescreenSettings:
        """Settings from the flat ``prescreen`` config section (unknown keys are ignored)."""
        relax_keys = ("fmax", "steps", "max_seconds")
        relax = RelaxSettings(**{k: values[k] for k in relax_keys if k in values})
        own = ("model", "aggregation", "min_sites", "max_sites", "workers")
        return cls(relax=relax, threads=threads, **{k: values[k] for k in own if k in values})

    def key(self, cif: str) -> str:
        """What a journal record must match to be reused for this structure."""
        text = repr((cif, self.model, self.aggregation, self.relax, self.min_sites, self.max_sites))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def _relax_one(job: tuple[str, str, str, RelaxSettings]) -> dict[str, Any]:
    structure_id, key, cif, settings = job
    structure = Structure.from_str(cif, fmt="cif")
    out: dict[str, Any] = {
        "id": structure_id,
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
    return out | {
        "status": "relaxed",
        "n_steps": result.n_steps,
        "converged": result.converged,
        "energy_per_atom": result.energy / len(result.structure),
        "seconds": round(result.seconds, 3),
        "cif_relaxed": result.structure.to(fmt="cif"),
    }


def _rate(record: dict[str, Any], hull: Any) -> dict[str, Any]:
    """Add MP2020 correction, formation energy and E_hull to a relaxed record."""
    structure = Structure.from_str(record["cif_relaxed"], fmt="cif")
    energy = record["energy_per_atom"] * len(structure)
    try:
        entry = corrected_entry(structure, energy, entry_id=record["id"])
        ehull = e_above_hull(hull, entry)
        e_form = float(hull.get_form_energy_per_atom(entry))
    except (CompatibilityError, HullError, ValueError) as err:
        return record | {"status": "unrated", "reason": str(err)}
    return record | {
        "status": "ok",
        "reason": "",
        "correction_per_atom": entry.correction_per_atom,
        "e_form_per_atom": e_form,
        "e_above_hull": ehull,
    }


def _read_journal(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: that structure is simply done again
        done[record["id"]] = record
    return done


class _Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("a")

    def write(self, record: dict[str, Any]) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def _relaxed(jobs: list[tuple[str, str, str, RelaxSettings]], settings: PrescreenSettings) -> Iterable:
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
        initializer=_init_worker,
        initargs=(settings.model, settings.aggregation, threads),
    )
    return _pooled(pool, jobs)


def _pooled(pool: ProcessPoolExecutor, jobs: list) -> Iterable:
    with pool:
        yield from pool.map(_relax_one, jobs)


def prescreen(
    inputs: list[StructureInput],
    hull_path: Path,
    out_csv: Path,
    journal_path: Path,
    settings: PrescreenSettings,
) -> pd.DataFrame:
    """Prescreen ``inputs``; results go to the journal as they come, then to ``out_csv``."""
    done = _read_journal(journal_path)
    log.info("%d of %d structures already in %s", len(done), len(inputs), journal_path)
    journal = _Journal(journal_path)
    try:
        jobs = []
        for structure_id, structure, unreadable in inputs:
            cif = structure.to(fmt="cif") if structure is not None else ""
            key = settings.key(cif or str(unreadable))
            if done.get(structure_id, {}).get("key") == key:
                continue
            reason = unreadable or prefilter_reason(
                structure, min_sites=settings.min_sites, max_sites=settings.max_sites
            )
            if reason:
                formula = structure.composition.reduced_formula if structure else ""
                record = {"id": structure_id, "key": key, "formula": formula, "status": "skipped"}
                record["reason"] = reason
                journal.write(record)
                done[structure_id] = record
                continue
            jobs.append((structure_id, key, cif, settings.relax))
        if jobs:
            hull = load_hull(hull_path)
            for record in _relaxed(jobs, settings):
                rated = _rate(record, hull) if record["status"] == "relaxed" else record
                journal.write(rated)
                done[rated["id"]] = rated
    finally:
        journal.close()
    order = [structure_id for structure_id, _, _ in inputs]
    table = pd.DataFrame([done[i] for i in order if i in done], columns=RESULT_COLUMNS)
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    return table


def select_metastable(results: pd.DataFrame, ehull_max: float) -> pd.DataFrame:
    """Rated structures with E_hull at or below ``ehull_max`` (eV/atom), most stable first."""
    rated = results[results["status"] == "ok"]
    chosen = rated[rated["e_above_hull"] <= ehull_max]
    return chosen.sort_values("e_above_hull").reset_index(drop=True)
