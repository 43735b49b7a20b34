"""The reference convex hull against which candidate energies are rated.

The ``dataset`` reference rebuilds MP's hull over the dataset's phases without any download: each
row's ``formation_energy_per_atom`` plus MP's elemental reference energies gives an MP-compatible
(MP2020-corrected) total energy per atom.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import TYPE_CHECKING

from monty.json import MontyDecoder, MontyEncoder
from pymatgen.analysis.phase_diagram import PatchedPhaseDiagram
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    import pandas as pd

__all__ = [
    "HullCoverage",
    "HullError",
    "dataset_entries",
    "e_above_hull",
    "elemental_references",
    "load_entries",
    "load_hull",
    "mp_gga_entries",
    "save_hull",
]


class HullError(ValueError):
    """A hull reference cannot be built or cannot rate an entry."""


def _read_json(path: Path) -> object:
    # By content, not by name: a file cached from a URL such as figshare's /files/<n> has no suffix.
    if path.is_dir():
        raise HullError(f"{path} is a folder; expected a JSON(.gz) file (a saved hull or MP entries)")
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rt") as handle:
            return json.load(handle, cls=MontyDecoder)
    except (OSError, json.JSONDecodeError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise HullError(
            f"{path}: not a readable JSON(.gz) file ({err}); expected MP entries as JSON"
        ) from err


def elemental_references(path: Path) -> dict[str, ComputedEntry]:
    """MP's lowest-energy entry per element (a JSON dict of element -> ComputedEntry)."""
    data = _read_json(path)
    if not isinstance(data, dict) or not all(isinstance(e, ComputedEntry) for e in data.values()):
        raise HullError(f"{path}: expected a JSON dict of element symbol -> ComputedEntry")
    return data


def dataset_entries(
    tables: Iterable[pd.DataFrame], references: dict[str, ComputedEntry]
) -> list[ComputedEntry]:
    """One entry per dataset material (columns id, formula, formation_energy_per_atom) plus the elements."""
    mu = {el: entry.energy_per_atom for el, entry in references.items()}
    entries = list(references.values())
    seen: set[str] = set()  # the same material listed by two sources (pilot and binary files) once
    for table in tables:
        for row_id, formula, e_form in zip(
            table["id"], table["formula"], table["formation_energy_per_atom"], strict=True
        ):
            if str(row_id) in seen:
                continue
            seen.add(str(row_id))
            composition = Composition(formula)
            missing = [el.symbol for el in composition.elements if el.symbol not in mu]
            if missing:
                raise HullError(f"row {row_id}: no elemental reference for {', '.join(missing)}")
            energy = sum(amount * (e_form + mu[el.symbol]) for el, amount in composition.items())
            entries.append(ComputedEntry(composition, energy, entry_id=str(row_id)))
    return entries


def load_entries(path: Path) -> list[ComputedEntry]:
    """A JSON(.gz) list of ComputedEntry or ComputedStructureEntry (e.g. MP's 2023-02-07 entries)."""
    data = _read_json(path)
    if isinstance(data, dict):
        data = list(data.values())
    if not isinstance(data, list) or not all(isinstance(e, ComputedEntry) for e in data):
        raise HullError(f"{path}: expected a JSON list of pymatgen ComputedEntry objects")
    return data


def mp_gga_entries(entries: list[ComputedEntry]) -> list[ComputedEntry]:
    """GGA and GGA+U entries only, MP2020-corrected, as the paper's code builds MP's hull.

    An r2SCAN entry or one of unknown run type would put a second energy scale into the hull.
    """
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility  # noqa: PLC0415

    gga = [e for e in entries if e.parameters.get("run_type") in {"GGA", "GGA+U"}]
    return MaterialsProject2020Compatibility().process_entries(gga, clean=True, verbose=False)


def save_hull(entries: list[ComputedEntry], path: Path) -> PatchedPhaseDiagram:
    """Build the hull once and save it, so every prescreen job rates against the same hull."""
    hull = PatchedPhaseDiagram(entries)
    with gzip.open(path, "wt") as handle:
        json.dump(hull.as_dict(), handle, cls=MontyEncoder)
    return hull


def load_hull(path: Path) -> PatchedPhaseDiagram:
    """The hull saved by :func:`save_hull`."""
    data = _read_json(path)
    if not isinstance(data, PatchedPhaseDiagram):
        raise HullError(f"{path}: not a saved hull; build one with `xtalgen hull build`")
    return data


def e_above_hull(hull: PatchedPhaseDiagram, entry: ComputedEntry) -> float:
    """Energy above the hull in eV/atom; negative when the entry lies below it."""
    missing = sorted(el.symbol for el in entry.composition.elements if el not in set(hull.elements))
    if missing:
        raise HullError(f"the hull has no {', '.join(missing)}: cannot rate {entry.reduced_formula}")
    return float(hull.get_e_above_hull(entry, allow_negative=True))


class HullCoverage:
    """How many reference compounds a hull holds in a structure's chemical system.

    A hull with no compound in a chemical system rates a structure against its elements only: the
    "E_hull" is then a formation energy, not a distance to the hull.
    """

    def __init__(self, hull: PatchedPhaseDiagram) -> None:
        self._systems = [
            frozenset(el.symbol for el in entry.composition.elements)
            for entry in hull.all_entries
            if len(entry.composition.elements) >= 2
        ]

    def compounds(self, composition: Composition) -> int:
        """Reference entries of two or more elements, all of them among ``composition``'s."""
        elements = {el.symbol for el in composition.elements}
        return sum(1 for system in self._systems if system <= elements)
