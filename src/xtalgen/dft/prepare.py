"""The ``prepare`` backend: every flow as jobflow JSON plus the first job's VASP inputs, no VASP needed.

This is what a user copies to a cluster, or reads to check INCAR tags, U values and POTCARs before any
CPU hour is spent. Without a POTCAR folder the inputs carry POTCAR.spec (the POTCAR symbols), since
POTCARs are licensed and may not be redistributed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pandas as pd
from monty.json import MontyEncoder

from xtalgen.dft.flows import DftSettings, build_flow, first_job, static_job_name, submission_key
from xtalgen.io import atomic_output

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure

__all__ = ["MANIFEST_COLUMNS", "potcar_folder", "prepare_flows", "read_candidates"]

MANIFEST_COLUMNS = [
    "candidate_id",
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


def read_candidates(path: Path) -> list[tuple[str, Structure]]:
    """Candidates of a structures file; prescreen output is read at its M3GNet-relaxed geometry.

    A row that does not parse is an error naming the row: DFT is the expensive end of the
    pipeline, and a candidate silently dropped here would never be verified.
    """
    from xtalgen.structures_io import parse_cif, read_structures  # noqa: PLC0415

    if path.is_file() and path.name.lower().endswith((".csv", ".csv.gz")):
        table = pd.read_csv(path, keep_default_na=False)
        column = "cif_relaxed" if "cif_relaxed" in table.columns else "cif"
        if column not in table.columns:
            raise ValueError(f"{path}: no 'cif' or 'cif_relaxed' column")
        id_column = next((c for c in ("id", "material_id") if c in table.columns), None)
        rows = []
        for i, text in enumerate(table[column]):
            row_id = str(table[id_column].iloc[i]) if id_column else f"row{i + 1}"
            structure, why = parse_cif(text) if text else (None, "empty")
            if structure is None:
                raise ValueError(f"{path}: row {i + 1} ({row_id}): {column} is {why}; fix or drop it")
            rows.append((row_id, structure))
        return rows
    rows = []
    for row_id, structure, why in read_structures(path):
        if structure is None:
            raise ValueError(f"{path}: {row_id}: {why}; fix or drop it")
        rows.append((row_id, structure))
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


def prepare_flows(
    candidates: list[tuple[str, Structure]], out_dir: Path, settings: DftSettings
) -> pd.DataFrame:
    """Write ``<id>/flow.json`` and ``<id>/inputs/`` for every candidate, and ``manifest.csv``."""
    potcars = potcar_folder(settings)
    rows = []
    for candidate_id, structure in candidates:
        flow = build_flow(structure, candidate_id, settings)
        folder = out_dir / candidate_id
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(folder / "flow.json") as tmp:
            tmp.write_text(json.dumps(flow.as_dict(), cls=MontyEncoder, indent=1))
        job = first_job(flow)
        details = _write_inputs(job, folder / "inputs", potcars)
        rows.append(
            {
                "candidate_id": candidate_id,
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
        )
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    with atomic_output(out_dir / "manifest.csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
