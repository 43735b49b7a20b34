"""Stability rates with their denominators, one definition for the prescreen summary and evaluation.

The paper counts a structure as metastable when its M3GNet E_hull is below 0.1 eV/atom, and reports
the share over every sample it drew, all of which it rated. A run that rates only some samples gets
two numbers: the share among the rated ones, and the share among all, which is the paper's figure
exactly when every valid sample was rated. A flagged E_hull (see ``hull.flags.FLAGS``) is no
distance to a hull, so it is rated but never metastable unless the user keeps flagged rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["DEFINITIONS", "METASTABLE_EHULL", "STABLE_EHULL", "stability_rates"]

METASTABLE_EHULL = 0.1  # eV/atom, the paper's M3GNet threshold (strictly below)
STABLE_EHULL = 0.0  # eV/atom, the paper's DFT threshold and MatterGen's strict S.U.N.

DEFINITIONS = {
    "n_rated": "samples with an M3GNet E_hull (relaxed and placed on the hull), flagged ones included",
    "n_flagged": "rated samples whose E_hull is flagged (no reference compound, or far below the hull)",
    "m3gnet_metastable": "rated, unflagged samples with M3GNet E_hull < 0.1 eV/atom",
    "m3gnet_metastable_rate": "m3gnet_metastable / n_rated",
    "m3gnet_metastable_rate_all": "m3gnet_metastable / all samples of the task (the paper's figure "
    "when rated_all_valid)",
    "rated_all_valid": "every valid sample of the task has an E_hull",
}


def stability_rates(
    ehull: np.ndarray,
    flagged: np.ndarray,
    n_all: int,
    *,
    keep_flagged: bool = False,
) -> dict[str, Any]:
    """Counts and rates of ``ehull`` (NaN: not rated) over the rated ones and over ``n_all``."""
    ehull = np.asarray(ehull, dtype=float)
    flagged = np.asarray(flagged, dtype=bool) & np.isfinite(ehull)
    rated = np.isfinite(ehull)
    trusted = rated & (keep_flagged | ~flagged)
    metastable = int(np.sum(trusted & (ehull < METASTABLE_EHULL)))
    n_rated = int(rated.sum())
    return {
        "n_rated": n_rated,
        "n_flagged": int(flagged.sum()),
        "m3gnet_metastable": metastable,
        "m3gnet_metastable_rate": metastable / n_rated if n_rated else None,
        "m3gnet_metastable_rate_all": metastable / n_all if n_all else None,
    }
