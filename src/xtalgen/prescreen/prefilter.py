"""Cheap checks that keep hopeless structures away from the relaxation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["MIN_DISTANCE", "MIN_VOLUME", "prefilter_reason"]

# CDVAE's structural validity (Xie et al., ICLR 2022): no two atoms closer than 0.5 Å, and a cell
# volume of at least 0.1 Å^3.
MIN_DISTANCE = 0.5
MIN_VOLUME = 0.1


def prefilter_reason(structure: Structure, *, min_sites: int = 2, max_sites: int | None = None) -> str | None:
    """Why ``structure`` should not be relaxed, or None when it may be."""
    n = len(structure)
    if n < min_sites:
        return f"{n} site(s), fewer than the minimum of {min_sites}"
    if max_sites is not None and n > max_sites:
        return f"{n} sites, more than the maximum of {max_sites}"
    if structure.volume < MIN_VOLUME:
        return f"volume {structure.volume:.3g} Å^3 is below {MIN_VOLUME} (CDVAE validity)"
    distances = structure.distance_matrix + np.eye(n) * (MIN_DISTANCE + 10.0)
    shortest = float(distances.min())
    if shortest < MIN_DISTANCE:
        return f"atoms {shortest:.2f} Å apart, closer than {MIN_DISTANCE} Å (CDVAE validity)"
    return None
