"""MP-20-style CSV rows to checked structures; every bad row is kept as a reject with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from xtalgen.errors import XtalgenError
from xtalgen.io import UnreadableFileError, read_csv
from xtalgen.structures_io import parse_cif

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure

__all__ = [
    "PROPERTY_COLUMNS",
    "REQUIRED_COLUMNS",
    "DatasetError",
    "Entry",
    "Reject",
    "parse_row",
    "read_table",
]

# MP-20 column -> our name. The file must have every one; a row missing a value is rejected.
REQUIRED_COLUMNS: dict[str, str] = {"material_id": "id", "cif": "cif"}
PROPERTY_COLUMNS: dict[str, str] = {
    "pretty_formula": "formula",
    "spacegroup.number": "spacegroup",
    "formation_energy_per_atom": "formation_energy_per_atom",
    "e_above_hull": "e_above_hull",
    "band_gap": "band_gap",
}


class DatasetError(XtalgenError, ValueError):
    """A dataset file cannot be used as a whole, or a row is bad and ``strict`` is on."""


@dataclass(frozen=True)
class Entry:
    """A structure that passed every check, with the properties the prompts may state."""

    id: str
    cif: str
    structure: Structure
    properties: dict[str, Any]


@dataclass(frozen=True)
class Reject:
    """A row that was skipped; ``row`` is its 1-based position among the file's data rows."""

    row: int
    id: str
    reason: str


def read_table(path: Path, max_rows: int | None = None) -> pd.DataFrame:
    """Read a CSV(.gz) and check that the MP-20 columns are there."""
    try:
        table = read_csv(path, "an MP-20-style CSV (material_id, cif, ...)", nrows=max_rows)
    except (OSError, UnreadableFileError) as err:
        raise DatasetError(str(err)) from None
    missing = [c for c in (*REQUIRED_COLUMNS, *PROPERTY_COLUMNS) if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; an MP-20-style CSV has "
            f"{', '.join((*REQUIRED_COLUMNS, *PROPERTY_COLUMNS))}"
        )
    return table


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value == ""


def _python_value(name: str, value: Any) -> Any:
    """Plain Python values, so records serialise to JSON and compare across processes."""
    if name == "spacegroup":
        return int(value)
    if name in {"id", "formula", "cif"}:
        return str(value)
    return float(value)


def parse_row(row: dict[str, Any], row_number: int) -> Entry | Reject:
    """Turn one CSV row into an :class:`Entry`, or say why it cannot be one."""
    raw_id = row.get("material_id")
    entry_id = "" if _missing(raw_id) else str(raw_id)
    for column in (*REQUIRED_COLUMNS, *PROPERTY_COLUMNS):
        if _missing(row.get(column)):
            return Reject(row_number, entry_id, f"missing value in column {column!r}")
    try:
        values = {
            name: _python_value(name, row[column])
            for column, name in {**REQUIRED_COLUMNS, **PROPERTY_COLUMNS}.items()
        }
    except (TypeError, ValueError) as err:
        return Reject(row_number, entry_id, f"bad property value ({err})")
    structure, unreadable = parse_cif(values["cif"])
    if structure is None:
        return Reject(row_number, entry_id, unreadable or "unparseable CIF")
    if not structure.is_ordered:
        return Reject(row_number, entry_id, "partial occupancy (disordered sites)")
    if len(structure) == 0:
        return Reject(row_number, entry_id, "CIF has no sites")
    properties = {k: v for k, v in values.items() if k not in REQUIRED_COLUMNS.values()}
    return Entry(entry_id, values["cif"], structure, properties)
