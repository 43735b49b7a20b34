"""Validity as CDVAE defines it (Xie et al., ICLR 2022), which the paper's Table 1 follows."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from xtalgen.prescreen.prefilter import cdvae_reason

if TYPE_CHECKING:
    from pymatgen.core import Composition, Structure

__all__ = ["composition_valid", "structure_valid"]


def structure_valid(structure: Structure) -> bool:
    """CDVAE structural validity: every interatomic distance >= 0.5 Å and volume >= 0.1 Å^3."""
    return cdvae_reason(structure) is None


def composition_valid(composition: Composition) -> bool:
    """CDVAE compositional validity with SMACT: charge neutral and Pauling-consistent.

    Counts are reduced by their gcd; single-element and all-metal compositions count as valid
    (CDVAE's ``include_alloys``). CDVAE used SMACT's original oxidation-state list, named "smact14"
    in SMACT 4.
    """
    from smact.screening import smact_validity  # noqa: PLC0415

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
