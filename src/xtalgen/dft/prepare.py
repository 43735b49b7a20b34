"""The ``prepare`` backend: every flow as jobflow JSON plus the first job's VASP inputs, no VASP needed.

This is what a user copies to a cluster, or reads to check INCAR tags, U values and POTCARs before any
CPU hour is spent. Without a POTCAR folder the inputs carry POTCAR.spec (the POTCAR symbols), since
POTCARs are licensed and may not be redistributed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd
from monty.json import MontyEncoder

from xtalgen.dft.flows import DftSettings, build_flow, first_job, static_job_name
from xtalgen.errors import InputError
from xtalgen.io import RECORD_TEXT, atomic_output, folder_name, inside, output_lock

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure

__all__ = ["MANIFEST_COLUMNS", "Candidate", "potcar_folder", "prepare_flows", "read_candidates", "selected"]
log = logging.getLogger(__name__)


class Candidate(NamedTuple):
    """A candidate as its record travels: id, structure (None: unreadable, and why), hash and task."""

    id: str
    structure: Structure | None
    why: str | None
    # The hash of the structure as it entered the prescreen (its results' structure_sha); empty:
    # the structure read here is the candidate, and is hashed.
    structure_sha: str = ""
    task: str = ""
    source_id: str = ""


MANIFEST_COLUMNS = [
    "candidate_id",
    "task",
    "source_id",
    "structure_sha",
    "folder",
    "status",
    "reason",
    "formula",
    "nsites",
    "maker",
    "key",
    "first_job",
    "static_job",
    "potcars",
    "ldau",
    "encut",
    "flow",
    "inputs",
]


def potcar_folder(settings: DftSettings) -> str | None:
    """The POTCAR folder from ``dft.potcar_dir`` or PMG_VASP_PSP_DIR; None writes POTCAR.spec."""
    return settings.potcar_dir or os.environ.get("PMG_VASP_PSP_DIR") or None


def read_candidates(path: Path) -> list[Candidate]:
    """Candidates of a structures file; prescreen output is read at its M3GNet-relaxed geometry.

    A row that cannot be read stays in the list with its reason: ``prepare_flows`` lists it in the
    manifest as failed, so no candidate is dropped silently and the others are still prepared.
    """
    from xtalgen.io import read_csv  # noqa: PLC0415
    from xtalgen.structures_io import parse_cif, read_structures, refuse_repeated_ids  # noqa: PLC0415

    if not (path.is_file() and path.name.lower().endswith((".csv", ".csv.gz"))):
        return [Candidate(*row) for row in read_structures(path)]
    what = "a candidates table with a cif or cif_relaxed column"
    table = read_csv(path, what, keep_default_na=False, dtype=RECORD_TEXT)
    column = "cif_relaxed" if "cif_relaxed" in table.columns else "cif"
    if column not in table.columns:
        raise InputError(f"{path}: no 'cif' or 'cif_relaxed' column")
    id_column = next((c for c in ("id", "material_id") if c in table.columns), None)
    ids = [str(v) for v in table[id_column]] if id_column else [f"row{i + 1}" for i in range(len(table))]
    refuse_repeated_ids(ids, path, "candidate ids")
    shas = table["structure_sha"] if "structure_sha" in table.columns else [""] * len(table)
    tasks = table["task"] if "task" in table.columns else [""] * len(table)
    sources = table["source_id"] if "source_id" in table.columns else [""] * len(table)
    rows: list[Candidate] = []
    records = zip(ids, table[column], shas, tasks, sources, strict=True)
    for i, (row_id, text, sha, task, source) in enumerate(records):
        structure, why = parse_cif(text) if text else (None, f"empty {column}")
        if structure is None:
            log.warning("%s, row %d (id %s): not prepared: %s", path, i + 1, row_id, why)
        rows.append(Candidate(row_id, structure, why, str(sha or ""), str(task or ""), str(source or "")))
    return rows


def selected(candidates: list[Candidate], settings: DftSettings) -> list[Candidate]:
    """The candidates DFT verifies, in the given order: controls only when asked for, then the cap."""
    from xtalgen.structures_io import CONTROL_TASKS  # noqa: PLC0415

    kept = [c for c in candidates if settings.include_controls or c.task not in CONTROL_TASKS]
    if len(kept) < len(candidates):
        log.info("%d control structures left out of DFT (dft.include_controls)", len(candidates) - len(kept))
    return kept[: settings.max_candidates]


def _potcar_symbols(folder: Path) -> list[str]:
    spec = folder / "POTCAR.spec"
    if spec.exists():
        return spec.read_text().split()
    from pymatgen.io.vasp import Potcar  # noqa: PLC0415

    return list(Potcar.from_file(folder / "POTCAR").symbols)


def _write_inputs(job: object, folder: Path, potcars: str | None) -> dict[str, object]:
    from pymatgen.core import SETTINGS  # noqa: PLC0415

    structure = job.function_args[0]  # type: ignore[attr-defined]
    generator = job.maker.input_set_generator  # type: ignore[attr-defined]
    previous = SETTINGS.get("PMG_VASP_PSP_DIR")
    if potcars:
        SETTINGS["PMG_VASP_PSP_DIR"] = potcars
    try:
        inputs = generator.get_input_set(structure, potcar_spec=potcars is None)
        inputs.write_input(folder)
    finally:
        if potcars:
            SETTINGS["PMG_VASP_PSP_DIR"] = previous
    incar = inputs.incar
    return {
        "potcars": " ".join(_potcar_symbols(folder)),
        "ldau": bool(incar.get("LDAU", False)),
        "encut": incar.get("ENCUT"),
    }


def _prepare_one(
    candidate: Candidate, out_dir: Path, settings: DftSettings, potcars: str | None
) -> dict[str, object]:
    """Write one candidate's folder, whole or not at all: it is built aside, then moved in place."""
    candidate_id, structure = candidate.id, candidate.structure
    assert structure is not None  # unreadable candidates never get here
    flow = build_flow(structure, candidate_id, settings, structure_sha=candidate.structure_sha)
    sha = flow.metadata["xtalgen"]["structure_sha"]
    folder = folder_name(candidate_id, sha)
    final = inside(out_dir, folder)
    building = out_dir / f".{folder}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        (building / "flow.json").write_text(json.dumps(flow.as_dict(), cls=MontyEncoder, indent=1))
        job = first_job(flow)
        details = _write_inputs(job, building / "inputs", potcars)
        shutil.rmtree(final, ignore_errors=True)
        building.rename(final)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return {
        "status": "prepared",
        "reason": "",
        "formula": structure.composition.reduced_formula,
        "nsites": len(structure),
        "maker": settings.maker,
        "structure_sha": sha,
        "folder": folder,
        "key": flow.metadata["xtalgen"]["key"],
        "first_job": job.name,
        "static_job": static_job_name(flow),
        **details,
        "flow": f"{folder}/flow.json",
        "inputs": f"{folder}/inputs",
    }


def prepare_flows(candidates: list[Candidate], out_dir: Path, settings: DftSettings) -> pd.DataFrame:
    """Write ``<folder>/flow.json`` and ``<folder>/inputs/`` for every candidate, and ``manifest.csv``.

    Each folder is named by ``xtalgen.io.folder_name`` (a slug of the id and a hash), never by the id
    itself, and the manifest names it. A candidate that cannot be prepared (unreadable, no POTCAR
    for an element, an input-set error) is listed with status ``failed`` and the reason; no partial
    folder of it is left.
    """
    with output_lock(out_dir / "manifest.csv"):
        return _prepare_locked(candidates, out_dir, settings)


def _prepare_locked(candidates: list[Candidate], out_dir: Path, settings: DftSettings) -> pd.DataFrame:
    potcars = potcar_folder(settings)
    rows = []
    for given in candidates:
        candidate = Candidate(*given)
        candidate_id, structure = candidate.id, candidate.structure
        row: dict[str, object] = {"candidate_id": candidate_id, "task": candidate.task}
        row["source_id"] = candidate.source_id
        row |= {"structure_sha": candidate.structure_sha, "maker": settings.maker}
        if structure is None:
            rows.append(row | {"status": "failed", "reason": f"unreadable: {candidate.why}"})
            continue
        row |= {"formula": structure.composition.reduced_formula, "nsites": len(structure)}
        try:
            rows.append(row | _prepare_one(candidate, out_dir, settings, potcars))
        except Exception as err:  # pymatgen and atomate2 raise many types (KeyError for a POTCAR)
            detail = f"{type(err).__name__}: {err}".splitlines()[0]
            log.warning("candidate %s: not prepared: %s", candidate_id, detail)
            rows.append(row | {"status": "failed", "reason": f"cannot prepare: {detail}"})
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    with atomic_output(out_dir / "manifest.csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
