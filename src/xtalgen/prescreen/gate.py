"""The accuracy gate: measure the potential against DFT before trusting it with any relaxation.

At the DFT geometry of MP ground states, the potential's MP2020-corrected formation energy is compared
with the dataset's. Weights run under the wrong message convention fail this gate by an order of
magnitude (median error about 0.5 eV/atom instead of about 0.01), so a silent mismatch stops the run.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pymatgen.io.ase import AseAtomsAdaptor

from xtalgen.errors import InputError, XtalgenError, setting, setting_value
from xtalgen.hull.energies import CompatibilityError, corrected_entry
from xtalgen.structures_io import parse_cif

if TYPE_CHECKING:
    from matgl.apps.pes import Potential
    from pymatgen.entries.computed_entries import ComputedEntry

__all__ = ["ModelAccuracyError", "check_accuracy", "measure_errors"]


class ModelAccuracyError(XtalgenError, RuntimeError):
    """The potential is further from DFT than the configured tolerance."""


def measure_errors(
    table: pd.DataFrame,
    references: dict[str, ComputedEntry],
    potential: Potential,
    *,
    size: int = 30,
    seed: int = 0,
) -> pd.DataFrame:
    """Formation-energy errors (eV/atom) on ``size`` ground states (``e_above_hull == 0``) of ``table``."""
    from matgl.ext.ase import PESCalculator  # noqa: PLC0415

    ground = table[table["e_above_hull"] == 0]
    if ground.empty:
        raise InputError("no ground states (e_above_hull == 0) to validate the potential against")
    sample = ground.sample(n=min(size, len(ground)), random_state=seed)
    mu = {el: entry.energy_per_atom for el, entry in references.items()}
    calculator = PESCalculator(potential)
    rows = []
    for row_id, cif, e_form_dft in zip(
        sample["id"], sample["cif"], sample["formation_energy_per_atom"], strict=True
    ):
        structure, _ = parse_cif(cif)
        if structure is None:  # the gate needs good references, not every row
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.calc = calculator
            energy = float(atoms.get_potential_energy())
        try:
            entry = corrected_entry(structure, energy)
        except CompatibilityError:
            continue
        fractions = structure.composition.fractional_composition
        e_form = entry.energy_per_atom - sum(x * mu[el.symbol] for el, x in fractions.items())
        rows.append(
            {
                "id": row_id,
                "formula": structure.composition.reduced_formula,
                "e_form_dft": float(e_form_dft),
                "e_form_model": e_form,
                "error": e_form - float(e_form_dft),
            }
        )
    return pd.DataFrame(rows)


def check_accuracy(errors: pd.DataFrame, max_error: float) -> float:
    """The median absolute error; raises :class:`ModelAccuracyError` above ``max_error``."""
    median = float(np.median(np.abs(errors["error"])))
    if median > max_error:
        worst = errors.iloc[np.argsort(-np.abs(errors["error"].to_numpy()))[:3]]
        examples = ", ".join(f"{f} {e:+.2f}" for f, e in zip(worst.formula, worst.error, strict=True))
        raise ModelAccuracyError(
            f"the potential's median |E_form error| is {median:.3f} eV/atom on {len(errors)} MP "
            f"ground states, above {setting('prescreen.max_model_error')} = {max_error} "
            f"(worst: {examples}). Pre-matgl-3.0 M3GNet weights need "
            f"{setting_value('prescreen.aggregation', 'destination')} (auto does this for the "
            f"published weights); otherwise choose a better {setting('prescreen.model')}"
        )
    return median
