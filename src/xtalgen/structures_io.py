"""Structures from any generator: a CSV with a ``cif`` column, a folder of CIFs, or extxyz."""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pymatgen.core import Element, Structure

from xtalgen.errors import InputError
from xtalgen.io import RECORD_TEXT, read_csv

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

__all__ = [
    "CONTROL_TASKS",
    "MAX_LATTICE_LENGTH",
    "StructureInput",
    "cif_table",
    "parse_cif",
    "read_structures",
    "structure_problem",
    "structure_sha",
]
log = logging.getLogger(__name__)

# Tasks whose structures are controls of a measurement, not candidates: the uniform infill baseline
# swaps elements of known ground states, which sit near the hull by construction. They are rated and
# reported beside the model's, and kept out of the DFT selection unless dft.include_controls.
CONTROL_TASKS = ("infill_uniform",)

# No inorganic crystal cell is longer; a longer one is a units error or a model's runaway digits.
MAX_LATTICE_LENGTH = 1000.0  # Å

# (id, structure or None, why it could not be read)
StructureInput = tuple[str, Structure | None, str | None]


def structure_sha(structure: Structure) -> str:
    """The structure's content hash: 16 hex digits of the SHA-256 of its CIF as pymatgen writes it.

    The same crystal written with other spacing or ordering of keys hashes alike. A candidate is
    its structure, never its position in a file: caches, journals and submissions that stand for a
    structure are keyed by this, beside the id that names it.
    """
    return hashlib.sha256(structure.to(fmt="cif").encode()).hexdigest()[:16]


def structure_problem(structure: Structure) -> str | None:
    """Why a parsed structure cannot be used anywhere downstream, or None.

    pymatgen reads a NaN lattice length or a partial occupancy without complaint; every later step
    (neighbour lists, fingerprints, relaxation, crystal strings) then fails on it or is meaningless.
    """
    params = structure.lattice.parameters
    shown = tuple(round(x, 3) for x in params)
    if len(structure) == 0:
        return "no sites"
    if not all(math.isfinite(x) for x in params):
        return f"non-finite lattice parameters {shown}"
    checks = (
        (
            min(params[:3]) <= 0 or max(params[:3]) > MAX_LATTICE_LENGTH,
            f"lattice lengths {shown[:3]} Å outside (0, {MAX_LATTICE_LENGTH:g}]",
        ),
        (
            not structure.lattice.volume > 0,
            f"cell volume {structure.lattice.volume:.3g} Å^3 (degenerate angles)",
        ),
        (not np.isfinite(structure.frac_coords).all(), "non-finite site coordinates"),
        (not structure.is_ordered, "partial occupancy (a disordered site); give an ordered structure"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    unknown = sorted(
        {str(sp) for sp in structure.species if not Element.is_valid_symbol(getattr(sp, "symbol", ""))}
    )
    return f"unknown element(s) {', '.join(unknown)}" if unknown else None


def parse_cif(text: str) -> tuple[Structure | None, str | None]:
    """The structure of a CIF, or None and the reason it cannot be read or used.

    Every command and rule reads structures through here, so one bad CIF is one skipped row.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_str(text, fmt="cif")
    except Exception as err:  # pymatgen raises many types for bad CIFs
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"unparseable CIF ({first})"
    problem = structure_problem(structure)
    return (None, f"unusable structure: {problem}") if problem else (structure, None)


def _from_csv(path: Path) -> Iterator[StructureInput]:
    table = read_csv(path, "a table with a cif column")
    if "cif" not in table.columns:
        raise InputError(f"{path}: no 'cif' column; columns are {', '.join(table.columns)}")
    id_column = next((c for c in ("id", "material_id") if c in table.columns), None)
    for i, cif in enumerate(table["cif"]):
        row_id = str(table[id_column].iloc[i]) if id_column else f"row{i + 1}"
        if not isinstance(cif, str) or not cif.strip():
            yield row_id, None, "empty cif"
            continue
        yield row_id, *parse_cif(cif)


def _from_extxyz(path: Path) -> Iterator[StructureInput]:
    from ase.io import iread  # noqa: PLC0415
    from pymatgen.io.ase import AseAtomsAdaptor  # noqa: PLC0415

    for i, atoms in enumerate(iread(path, index=":", format="extxyz")):
        row_id = str(atoms.info.get("id", f"frame{i + 1}"))
        try:
            structure = AseAtomsAdaptor.get_structure(atoms)
        except Exception as err:  # a frame without a cell, or unknown symbols
            yield row_id, None, f"unreadable frame ({err})"
            continue
        problem = structure_problem(structure)
        yield (
            row_id,
            (None if problem else structure),
            (f"unusable structure: {problem}" if problem else None),
        )


def read_structures(path: Path) -> list[StructureInput]:
    """Every structure of ``path``, with a reason instead of a structure where one is unusable.

    Each skipped row is logged with the file, the row and the id; repeated ids are refused.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a CSV, a folder of CIFs or extxyz")
    if path.is_dir():
        files = sorted(path.glob("*.cif"))
        if not files:
            raise InputError(f"{path}: a folder of structures must hold *.cif files")
        found = [(f.stem, *parse_cif(_text(f))) for f in files]
    elif path.name.lower().endswith((".csv", ".csv.gz")):
        found = list(_from_csv(path))
    elif path.name.lower().endswith((".xyz", ".extxyz")):
        found = list(_from_extxyz(path))
    else:
        raise InputError(f"{path}: unknown structure format; use .csv(.gz), .extxyz or a CIF folder")
    refuse_repeated_ids((row_id for row_id, _, _ in found), path)
    for row, (row_id, structure, reason) in enumerate(found, start=1):
        if structure is None:
            log.warning("%s, row %d (id %s): skipped: %s", path, row, row_id, reason)
    return found


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError as err:
        from xtalgen.io import UnreadableFileError  # noqa: PLC0415

        raise UnreadableFileError(f"{path}: not UTF-8 text (byte {err.start}); expected a CIF") from None


def refuse_repeated_ids(
    ids: Iterable[object], source: object, what: str = "ids", error: type[Exception] = InputError
) -> None:
    """Refuse repeated ids at once, naming them: files, journals and results are keyed on ids."""
    series = pd.Series([str(i) for i in ids], dtype=object)
    repeated = series[series.duplicated()].unique()
    if len(repeated):
        raise error(
            f"{source}: {what} must be unique, since results are keyed on them; repeated: "
            f"{', '.join(repeated[:5])}"
        )


def cif_table(path: Path) -> pd.DataFrame:
    """Columns ``id, cif`` (and ``task``, ``source_id`` when given), each CIF as given, judged later."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a CSV, a folder of CIFs or extxyz")
    name = path.name.lower()
    if path.is_dir():
        files = sorted(path.glob("*.cif"))
        if not files:
            raise InputError(f"{path}: a folder of structures must hold *.cif files")
        table = pd.DataFrame({"id": [f.stem for f in files], "cif": [_text(f) for f in files]})
    elif name.endswith((".csv", ".csv.gz")):
        raw = read_csv(path, "a table with a cif column", dtype=RECORD_TEXT | {"material_id": str})
        if "cif" not in raw.columns:
            raise InputError(f"{path}: no 'cif' column; columns are {', '.join(raw.columns)}")
        id_column = next((c for c in ("id", "material_id") if c in raw.columns), None)
        ids = raw[id_column].astype(str) if id_column else [f"row{i + 1}" for i in range(len(raw))]
        table = pd.DataFrame({"id": list(ids), "cif": raw["cif"].fillna("").astype(str)})
        if "task" in raw.columns:  # what the sampler was asked for; blank means unconditional
            table["task"] = raw["task"].fillna("unconditional").astype(str).replace("", "unconditional")
        if "source_id" in raw.columns:  # the structure a conditional or infill sample was drawn from
            table["source_id"] = raw["source_id"].fillna("").astype(str)
    else:
        rows = [(i, s.to(fmt="cif") if s is not None else "") for i, s, _ in read_structures(path)]
        table = pd.DataFrame(rows, columns=["id", "cif"])
    refuse_repeated_ids(table["id"], path)
    return table
