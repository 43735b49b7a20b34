"""Stability rates with their denominators, one definition for the prescreen summary and evaluation.

The paper counts a structure as metastable when its M3GNet E_hull is below 0.1 eV/atom, and reports
the share over every sample it drew, all of which it rated. A run that rates only some samples gets
two numbers: the share among the rated ones, and the share among all, which is the paper's figure
exactly when every valid sample was rated. A flagged E_hull (see ``hull.flags.FLAGS``) is no
distance to a hull, so it is rated but never metastable unless the user keeps flagged rows.

The threshold is ``prescreen.ehull_max`` (0.1 eV/atom by default, the paper's), and ``is_metastable``
is the one comparison with it: the selection, the rates, S.U.N. and the DFT footnote all call it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["METASTABLE_EHULL", "STABLE_EHULL", "definitions", "is_metastable", "stability_rates"]

METASTABLE_EHULL = 0.1  # eV/atom, the paper's M3GNet threshold (strictly below)
STABLE_EHULL = 0.0  # eV/atom, the paper's DFT threshold and MatterGen's strict S.U.N.


def is_metastable(ehull: Any, ehull_max: float = METASTABLE_EHULL) -> np.ndarray:
    """E_hull strictly below the threshold, as the paper counts; NaN (not rated) is never metastable."""
    values = np.asarray(ehull, dtype=float)
    return np.isfinite(values) & (values < ehull_max)


def definitions(ehull_max: float = METASTABLE_EHULL) -> dict[str, str]:
    """What each rate counts, at the run's threshold."""
    return {
        "ehull_max": "metastable threshold (eV/atom) of the selection, the rates, S.U.N. and the DFT "
        "footnote (prescreen.ehull_max)",
        "n_rated": "samples with an M3GNet E_hull (relaxed and placed on the hull), flagged ones included",
        "n_flagged": "rated samples whose E_hull is flagged (no reference compound, or far below the hull)",
        "m3gnet_metastable": f"rated, unflagged samples with M3GNet E_hull < {ehull_max:g} eV/atom",
        "m3gnet_metastable_rate": "m3gnet_metastable / n_rated",
        "m3gnet_metastable_rate_all": "m3gnet_metastable / all samples of the task (the paper's figure "
        "when rated_all_valid and ehull_max is 0.1)",
        "n_relax_failed": "valid samples whose relaxation failed (exploded or left an unphysical cell): "
        "a verdict, not metastable, counted in the rate over all samples",
        "n_prefiltered": "valid samples the prescreen's pre-filter skipped (prescreen.min_sites, max_sites): "
        "a verdict, not metastable, counted in the rate over all samples",
        "rated_all_valid": "every valid sample of the task has a verdict: an E_hull, a failed relaxation or "
        "the pre-filter's skip",
    }


def stability_rates(
    ehull: np.ndarray,
    flagged: np.ndarray,
    n_all: int,
    *,
    keep_flagged: bool = False,
    ehull_max: float = METASTABLE_EHULL,
) -> dict[str, Any]:
    """Counts and rates of ``ehull`` (NaN: not rated) over the rated ones and over ``n_all``."""
    ehull = np.asarray(ehull, dtype=float)
    flagged = np.asarray(flagged, dtype=bool) & np.isfinite(ehull)
    rated = np.isfinite(ehull)
    trusted = rated & (keep_flagged | ~flagged)
    metastable = int(np.sum(trusted & is_metastable(ehull, ehull_max)))
    n_rated = int(rated.sum())
    return {
        "n_rated": n_rated,
        "n_flagged": int(flagged.sum()),
        "m3gnet_metastable": metastable,
        "m3gnet_metastable_rate": metastable / n_rated if n_rated else None,
        "m3gnet_metastable_rate_all": metastable / n_all if n_all else None,
    }
