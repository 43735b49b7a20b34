"""Validity as CDVAE defines it (Xie et al., ICLR 2022), which the paper's Table 1 follows."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Composition, Structure

__all__ = [
    "MAX_OXIDATION_COMBINATIONS",
    "MIN_DISTANCE",
    "MIN_VOLUME",
    "cdvae_reason",
    "composition_valid",
    "oxidation_combinations",
    "structure_valid",
]

# CDVAE's structural validity: no two atoms closer than 0.5 Å, and a cell volume of at least 0.1 Å^3.
MIN_DISTANCE = 0.5
MIN_VOLUME = 0.1

# SMACT tries every combination of its oxidation states: a 13-element sample (8 x 6 x ... states)
# kept one evaluation busy for over 20 minutes. MP-20 has at most 6 elements (at most some 10^4
# combinations); a composition beyond this many is counted invalid without the enumeration.
MAX_OXIDATION_COMBINATIONS = 10**6


def cdvae_reason(structure: Structure) -> str | None:
    """Why ``structure`` fails CDVAE's structural validity, or None when it passes."""
    n = len(structure)
    if structure.volume < MIN_VOLUME:
        return f"volume {structure.volume:.3g} Å^3 is below {MIN_VOLUME} (CDVAE validity)"
    distances = structure.distance_matrix + np.eye(n) * (MIN_DISTANCE + 10.0)
    shortest = float(distances.min())
    if shortest < MIN_DISTANCE:
        return f"atoms {shortest:.2f} Å apart, closer than {MIN_DISTANCE} Å (CDVAE validity)"
    return None


def structure_valid(structure: Structure) -> bool:
    """CDVAE structural validity: every interatomic distance >= 0.5 Å and volume >= 0.1 Å^3."""
    return cdvae_reason(structure) is None


def composition_valid(composition: Composition) -> bool:
    """CDVAE compositional validity with SMACT: charge neutral and Pauling-consistent.

    Counts are reduced by their gcd; single-element and all-metal compositions count as valid
    (CDVAE's ``include_alloys``). CDVAE used SMACT's original oxidation-state list, named "smact14"
    in SMACT 4. A composition with more than :data:`MAX_OXIDATION_COMBINATIONS` oxidation-state
    combinations (over 8 elements or so, never in MP-20) counts as invalid without SMACT's search.
    """
    from smact.screening import smact_validity  # noqa: PLC0415

    if oxidation_combinations(composition) > MAX_OXIDATION_COMBINATIONS:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(
            smact_validity(
                composition.element_composition,
                use_pauling_test=True,
                include_alloys=True,
                oxidation_states_set="smact14",
            )
        )


def oxidation_combinations(composition: Composition) -> int:
    """How many oxidation-state combinations SMACT would try (its "smact14" set)."""
    import math  # noqa: PLC0415

    from smact import Element  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = [len(Element(el.symbol).oxidation_states_smact14 or [0]) for el in composition.elements]
    return math.prod(counts)
