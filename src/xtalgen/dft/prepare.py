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
from typing import TYPE_CHECKING

import pandas as pd
from monty.json import MontyEncoder

from xtalgen.dft.flows import DftSettings, build_flow, first_job, static_job_name, submission_key
from xtalgen.errors import InputError
from xtalgen.io import atomic_output, output_lock

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure

__all__ = ["MANIFEST_COLUMNS", "Candidate", "potcar_folder", "prepare_flows", "read_candidates"]
log = logging.getLogger(__name__)

# (id, structure or None, why it cannot be prepared)
Candidate = tuple[str, "Structure | None", "str | None"]

MANIFEST_COLUMNS = [
    "candidate_id",
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
        return list(read_structures(path))
    table = read_csv(path, "a candidates table with a cif or cif_relaxed column", keep_default_na=False)
    column = "cif_relaxed" if "cif_relaxed" in table.columns else "cif"
    if column not in table.columns:
        raise InputError(f"{path}: no 'cif' or 'cif_relaxed' column")
    id_column = next((c for c in ("id", "material_id") if c in table.columns), None)
    ids = [str(v) for v in table[id_column]] if id_column else [f"row{i + 1}" for i in range(len(table))]
    refuse_repeated_ids(ids, path, "candidate ids (one folder each)")
    rows: list[Candidate] = []
    for i, (row_id, text) in enumerate(zip(ids, table[column], strict=True)):
        structure, why = parse_cif(text) if text else (None, f"empty {column}")
        if structure is None:
            log.warning("%s, row %d (id %s): not prepared: %s", path, i + 1, row_id, why)
        rows.append((row_id, structure, why))
    return rows


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
    candidate_id: str, structure: Structure, out_dir: Path, settings: DftSettings, potcars: str | None
) -> dict[str, object]:
    """Write one candidate's folder, whole or not at all: it is built aside, then moved in place."""
    flow = build_flow(structure, candidate_id, settings)
    final = out_dir / candidate_id
    building = out_dir / f".{candidate_id}.building"
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
        "key": submission_key(candidate_id, settings.maker),
        "first_job": job.name,
        "static_job": static_job_name(flow),
        **details,
        "flow": f"{candidate_id}/flow.json",
        "inputs": f"{candidate_id}/inputs",
    }


def prepare_flows(candidates: list[Candidate], out_dir: Path, settings: DftSettings) -> pd.DataFrame:
    """Write ``<id>/flow.json`` and ``<id>/inputs/`` for every candidate, and ``manifest.csv``.

    A candidate that cannot be prepared (unreadable, no POTCAR for an element, an input-set error)
    is listed with status ``failed`` and the reason; no partial folder of it is left.
    """
    with output_lock(out_dir / "manifest.csv"):
        return _prepare_locked(candidates, out_dir, settings)


def _prepare_locked(candidates: list[Candidate], out_dir: Path, settings: DftSettings) -> pd.DataFrame:
    potcars = potcar_folder(settings)
    rows = []
    for candidate_id, structure, why in candidates:
        row: dict[str, object] = {"candidate_id": candidate_id, "maker": settings.maker}
        if structure is None:
            rows.append(row | {"status": "failed", "reason": f"unreadable: {why}"})
            continue
        row |= {"formula": structure.composition.reduced_formula, "nsites": len(structure)}
        try:
            rows.append(row | _prepare_one(candidate_id, structure, out_dir, settings, potcars))
        except Exception as err:  # pymatgen and atomate2 raise many types (KeyError for a POTCAR)
            detail = f"{type(err).__name__}: {err}".splitlines()[0]
            log.warning("candidate %s: not prepared: %s", candidate_id, detail)
            rows.append(row | {"status": "failed", "reason": f"cannot prepare: {detail}"})
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    with atomic_output(out_dir / "manifest.csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
