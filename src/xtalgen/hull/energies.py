"""MP-compatible energies: a relaxed total energy becomes an MP2020-corrected entry.

The entry carries the run parameters MP's GGA/GGA+U calculations would have had for this structure
(MPRelaxSet's U values and POTCAR symbols), so MaterialsProject2020Compatibility treats it exactly as
an MP entry of the same chemistry.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
from pymatgen.entries.computed_entries import ComputedStructureEntry
from pymatgen.io.vasp.sets import MPRelaxSet

from xtalgen.errors import XtalgenError

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["CompatibilityError", "corrected_entry", "mp_run_parameters"]

_COMPAT = MaterialsProject2020Compatibility(check_potcar=False)


class CompatibilityError(XtalgenError, ValueError):
    """MP2020 compatibility refuses the entry (for example an element it has no correction for)."""


def mp_run_parameters(structure: Structure) -> dict[str, object]:
    """The run type, Hubbard U values and POTCAR symbols MPRelaxSet assigns to ``structure``."""
    config = MPRelaxSet.CONFIG
    elements = sorted(structure.composition.elements, key=lambda el: el.symbol)
    most_electronegative = max(elements, key=lambda el: el.X).symbol
    u_table = config["INCAR"]["LDAUU"].get(most_electronegative, {})
    hubbards = {el.symbol: float(u_table.get(el.symbol, 0.0)) for el in elements}
    is_hubbard = any(u > 0 for u in hubbards.values())
    return {
        "run_type": "GGA+U" if is_hubbard else "GGA",
        "is_hubbard": is_hubbard,
        "hubbards": hubbards if is_hubbard else {},
        "potcar_symbols": [f"PBE {config['POTCAR'][el.symbol]}" for el in elements],
    }


def corrected_entry(
    structure: Structure, energy: float, entry_id: str | None = None
) -> ComputedStructureEntry:
    """An MP2020-processed entry for ``structure`` with total energy ``energy`` (eV)."""
    entry = ComputedStructureEntry(
        structure, energy, parameters=mp_run_parameters(structure), entry_id=entry_id
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processed = _COMPAT.process_entry(entry)
    if processed is None:
        raise CompatibilityError(
            f"MaterialsProject2020Compatibility cannot correct {structure.composition.reduced_formula}"
        )
    return processed
