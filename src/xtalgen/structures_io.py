"""Structures from any generator: a CSV with a ``cif`` column, a folder of CIFs, or extxyz."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pandas as pd
from pymatgen.core import Structure

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["StructureInput", "cif_table", "parse_cif", "read_structures"]

# (id, structure or None, why it could not be read)
StructureInput = tuple[str, Structure | None, str | None]


def parse_cif(text: str) -> tuple[Structure | None, str | None]:
    """The structure of a CIF, or None and the reason it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_str(text, fmt="cif"), None
    except Exception as err:  # pymatgen raises many types for bad CIFs
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"unparseable CIF ({first})"


def _from_csv(path: Path) -> Iterator[StructureInput]:
    table = pd.read_csv(path)
    if "cif" not in table.columns:
        raise ValueError(f"{path}: no 'cif' column; columns are {', '.join(table.columns)}")
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
        yield row_id, AseAtomsAdaptor.get_structure(atoms), None


def read_structures(path: Path) -> list[StructureInput]:
    """Every structure of ``path``, with a reason instead of a structure where one is unreadable."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a CSV, a folder of CIFs or extxyz")
    if path.is_dir():
        files = sorted(path.glob("*.cif"))
        if not files:
            raise ValueError(f"{path}: a folder of structures must hold *.cif files")
        return [(f.stem, *parse_cif(f.read_text())) for f in files]
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return list(_from_csv(path))
    if name.endswith((".xyz", ".extxyz")):
        return list(_from_extxyz(path))
    raise ValueError(f"{path}: unknown structure format; use .csv(.gz), .extxyz or a CIF folder")


def cif_table(path: Path) -> pd.DataFrame:
    """Columns ``id, cif`` (and ``task`` when given), each CIF as given, so a bad one is judged later."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: give a CSV, a folder of CIFs or extxyz")
    name = path.name.lower()
    if path.is_dir():
        files = sorted(path.glob("*.cif"))
        if not files:
            raise ValueError(f"{path}: a folder of structures must hold *.cif files")
        table = pd.DataFrame({"id": [f.stem for f in files], "cif": [f.read_text() for f in files]})
    elif name.endswith((".csv", ".csv.gz")):
        raw = pd.read_csv(path)
        if "cif" not in raw.columns:
            raise ValueError(f"{path}: no 'cif' column; columns are {', '.join(raw.columns)}")
        id_column = next((c for c in ("id", "material_id") if c in raw.columns), None)
        ids = raw[id_column].astype(str) if id_column else [f"row{i + 1}" for i in range(len(raw))]
        table = pd.DataFrame({"id": list(ids), "cif": raw["cif"].fillna("").astype(str)})
        if "task" in raw.columns:  # what the sampler was asked for; blank means unconditional
            table["task"] = raw["task"].fillna("unconditional").astype(str).replace("", "unconditional")
    else:
        rows = [(i, s.to(fmt="cif") if s is not None else "") for i, s, _ in read_structures(path)]
        table = pd.DataFrame(rows, columns=["id", "cif"])
    duplicated = table["id"][table["id"].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"{path}: ids must be unique; repeated: {', '.join(map(str, duplicated[:5]))}")
    return table
