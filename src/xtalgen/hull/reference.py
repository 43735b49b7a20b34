"""The reference convex hull against which candidate energies are rated.

The ``dataset`` reference is a hull of the dataset's own phases, built without any download: each
row's ``formation_energy_per_atom`` plus MP's elemental reference energies gives an MP-compatible
(MP2020-corrected) total energy per atom. It is not MP's hull (``hull_name`` says what it lacks); the
``entries`` reference is.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import TYPE_CHECKING

from monty.json import MontyDecoder, MontyEncoder
from pymatgen.analysis.phase_diagram import PatchedPhaseDiagram, PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

from xtalgen.errors import XtalgenError, setting

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    import pandas as pd

__all__ = [
    "HullCoverage",
    "HullError",
    "ReferenceHull",
    "dataset_entries",
    "e_above_hull",
    "elemental_references",
    "hull_label",
    "hull_name",
    "load_entries",
    "load_hull",
    "mp_gga_entries",
    "save_hull",
]


class HullError(XtalgenError, ValueError):
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


class ReferenceHull:
    """The reference entries, with one chemical system's phase diagram built when a candidate needs it.

    A candidate's E_hull depends only on the entries within its own chemical system, so pymatgen's
    ``PhaseDiagram`` over that subset gives what a ``PatchedPhaseDiagram`` over every entry gives,
    without building every system's hull up front (26 s for MP-20's 15,775 phases, and much longer
    for all of MP's entries) in every job that rates a handful of structures.
    """

    def __init__(self, entries: Iterable[ComputedEntry]) -> None:
        self.all_entries: list[ComputedEntry] = list(entries)
        self._systems = [frozenset(el.symbol for el in e.composition.elements) for e in self.all_entries]
        self._diagrams: dict[frozenset[str], PhaseDiagram] = {}
        elemental = {next(iter(s)) for s in self._systems if len(s) == 1}
        in_compounds = set().union(*self._systems) if self._systems else set()
        missing = sorted(in_compounds - elemental)
        if missing:
            raise HullError(
                f"the reference has compounds of {', '.join(missing)} but no elemental entry for them; "
                f"add the elemental references ({setting('hull.elemental_refs')}) or use MP's entries"
            )
        self.elements: list[Element] = sorted(Element(symbol) for symbol in elemental)

    def diagram(self, composition: Composition) -> PhaseDiagram:
        """The phase diagram of ``composition``'s chemical system, built once per system."""
        system = frozenset(el.symbol for el in composition.elements)
        missing = sorted(system - {el.symbol for el in self.elements})
        if missing:
            raise HullError(
                f"the hull has no {', '.join(missing)}: cannot rate {composition.reduced_formula}"
            )
        if system not in self._diagrams:
            within = [e for e, s in zip(self.all_entries, self._systems, strict=True) if s <= system]
            self._diagrams[system] = PhaseDiagram(within)
        return self._diagrams[system]

    def get_e_above_hull(self, entry: ComputedEntry, allow_negative: bool = True) -> float:
        """Energy above the hull in eV/atom, as ``PhaseDiagram`` gives it."""
        return float(self.diagram(entry.composition).get_e_above_hull(entry, allow_negative=allow_negative))

    def get_form_energy_per_atom(self, entry: ComputedEntry) -> float:
        """Formation energy per atom against the hull's elemental entries."""
        return float(self.diagram(entry.composition).get_form_energy_per_atom(entry))


_SAVED_AS = "xtalgen.ReferenceHull"


def save_hull(entries: list[ComputedEntry], path: Path) -> ReferenceHull:
    """Check and save the reference entries once, so every job rates against the same hull."""
    hull = ReferenceHull(entries)
    with gzip.open(path, "wt") as handle:
        json.dump({"saved_as": _SAVED_AS, "entries": hull.all_entries}, handle, cls=MontyEncoder)
    return hull


def load_hull(path: Path) -> ReferenceHull:
    """The hull saved by :func:`save_hull` (or an older run's saved ``PatchedPhaseDiagram``)."""
    data = _read_json(path)
    if isinstance(data, PatchedPhaseDiagram):
        return ReferenceHull(data.all_entries)
    if not isinstance(data, dict) or data.get("saved_as") != _SAVED_AS:
        raise HullError(f"{path}: not a saved hull; build one with `xtalgen hull build`")
    return ReferenceHull(data["entries"])


def e_above_hull(hull: ReferenceHull, entry: ComputedEntry) -> float:
    """Energy above the hull in eV/atom; negative when the entry lies below it."""
    return hull.get_e_above_hull(entry, allow_negative=True)


class HullCoverage:
    """How many reference compounds a hull holds in a structure's chemical system.

    A hull with no compound in a chemical system rates a structure against its elements only: the
    "E_hull" is then a formation energy, not a distance to the hull.
    """

    def __init__(self, hull: ReferenceHull) -> None:
        self._systems = [
            frozenset(el.symbol for el in entry.composition.elements)
            for entry in hull.all_entries
            if len(entry.composition.elements) >= 2
        ]

    def compounds(self, composition: Composition) -> int:
        """Reference entries of two or more elements, all of them among ``composition``'s."""
        elements = {el.symbol for el in composition.elements}
        return sum(1 for system in self._systems if system <= elements)


def hull_name(reference: str, sources: list[str], entries: int) -> str:
    """What a hull is, in words a reader of a rate needs beside it: its sources and its size.

    A dataset hull holds only the dataset's own phases: MP-20's 15,775 structures all lie within
    0.08 eV/atom of MP's hull and none has over 20 sites, so MP's unstable and large phases are
    missing and every E_hull on it reads lower than on MP's full hull. The paper's figures are on
    MP's entries (``hull.reference: entries``).
    """
    where = ", ".join(s if "://" in s else s.rstrip("/").rsplit("/", 1)[-1] for s in sources)
    if reference == "dataset":
        return (
            f"dataset hull of {entries} entries ({where}; MP-20 subset: lacks MP's unstable and large "
            "phases, so E_hull reads lower than on MP's hull)"
        )
    if reference == "entries":
        return f"MP entries hull of {entries} GGA/GGA+U entries ({where})"
    if reference == "mp_api":
        return f"MP API hull of {entries} GGA/GGA+U entries of the candidates' chemical systems"
    return f"{reference} hull of {entries} entries ({where})"


def hull_label(info: dict) -> str:
    """The name of a hull from its ``hull.json`` record (``hull_name`` of its parts for older ones)."""
    if info.get("name"):
        return str(info["name"])
    reference, sources = str(info.get("reference", "")), list(info.get("sources", []))
    return hull_name(reference, sources, int(info.get("entries", 0)))
