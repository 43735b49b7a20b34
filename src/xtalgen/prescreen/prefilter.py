"""Cheap checks that keep hopeless structures away from the relaxation, and bad relaxations out.

``prefilter_reason`` guards the relaxation. Beside CDVAE's distance floor (the evaluation's validity,
``evaluate.validity``) it catches what CDVAE's minimum-image distances miss, such as a cell so skewed
that every atom sits 0.07 Å from its own periodic image, which a potential "relaxes" in zero steps to a
meaningless energy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from xtalgen.structures_io import MAX_LATTICE_LENGTH

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["MIN_DISTANCE", "MIN_VOLUME_PER_ATOM", "prefilter_reason"]

# No two atoms closer than this (Å), periodic images included: CDVAE's floor, applied to every image.
MIN_DISTANCE = 0.5
# The relaxation guard's floor: the densest known solids hold about 5 Å^3 per atom, so a cell under
# 1 Å^3 per atom is no crystal.
MIN_VOLUME_PER_ATOM = 1.0


def _cell_reason(structure: Structure) -> str | None:
    lattice = structure.lattice
    lengths, angles = lattice.abc, lattice.angles
    if not all(math.isfinite(x) and x > 0 for x in lengths):
        return f"lattice lengths {', '.join(f'{x:.3g}' for x in lengths)} Å: not all finite and positive"
    if max(lengths) > MAX_LATTICE_LENGTH:
        return f"lattice length {max(lengths):.3g} Å is above {MAX_LATTICE_LENGTH:.0f} Å: no crystal"
    if not all(math.isfinite(x) and 0 < x < 180 for x in angles):
        return f"lattice angles {', '.join(f'{x:.3g}' for x in angles)}°: not all in (0, 180)"
    alpha, beta, gamma = angles
    if not (
        alpha + beta + gamma < 360 and alpha < beta + gamma and beta < alpha + gamma and gamma < alpha + beta
    ):
        return f"lattice angles {alpha:.3g}, {beta:.3g}, {gamma:.3g}° give no valid cell"
    volume = structure.volume
    if not math.isfinite(volume) or volume <= 0:
        return f"cell volume {volume:.3g} Å^3: the lattice vectors are degenerate"
    return None


def prefilter_reason(structure: Structure, *, min_sites: int = 2, max_sites: int | None = None) -> str | None:
    """Why ``structure`` should not be relaxed (or, after relaxation, not trusted), or None."""
    n = len(structure)
    if n < min_sites:
        return f"{n} site(s), fewer than the minimum of {min_sites}"
    if max_sites is not None and n > max_sites:
        return f"{n} sites, more than the maximum of {max_sites}"
    reason = _cell_reason(structure)
    if reason:
        return reason
    per_atom = structure.volume / n
    if per_atom < MIN_VOLUME_PER_ATOM:
        return f"{per_atom:.3g} Å^3 per atom, below the floor of {MIN_VOLUME_PER_ATOM} Å^3"
    # Every pair within the cutoff, periodic images included: an atom and its own image count too.
    _, _, _, distances = structure.get_neighbor_list(MIN_DISTANCE)
    if len(distances):
        shortest = float(distances.min())
        return f"atoms {shortest:.2f} Å apart (periodic images included), closer than {MIN_DISTANCE} Å"
    return None
