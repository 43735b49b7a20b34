"""When a rated E_hull is no distance to the hull, and says so instead of passing as one.

A potential's energy placed on a hull can be wrong in two ways a number alone hides: the hull holds
no compound of the structure's chemical system (E_hull is then only a formation energy against the
elements), or the value lies far below the hull (the potential or the hull is wrong there, not the
crystal a discovery). Both are rated and kept, with a flag, and stay out of every stability count
unless the user keeps flagged rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from xtalgen.setting_fields import described

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FLAGS", "RatingSettings", "flag_of", "is_flagged"]

# Why a rated E_hull is not to be trusted as a distance to the hull.
FLAGS = ("no_reference_compounds", "far_below_hull")


@dataclass(frozen=True)
class RatingSettings:
    """When a rated E_hull is flagged instead of trusted."""

    # MP-20 ground states relaxed with the gated M3GNet sit within a few hundredths of an eV/atom of
    # the hull; far below it, the potential or the hull is wrong, not the crystal a discovery.
    max_below_hull: float = described(0.2, "flag E_hull below minus this (eV/atom) as far_below_hull")


def flag_of(ehull: float, compounds: int, n_elements: int, settings: RatingSettings) -> tuple[str, str]:
    """The flag of a rated structure and the reason in words; ("", "") when E_hull can be trusted.

    An element's hull is its own reference entries, so a one-element structure needs no compound.
    """
    if compounds == 0 and n_elements >= 2:
        return (
            "no_reference_compounds",
            "the hull holds no compound of this chemical system: E_hull is only a formation energy "
            "against the elements",
        )
    if ehull < -settings.max_below_hull:
        return (
            "far_below_hull",
            f"E_hull {ehull:.3f} eV/atom is more than {settings.max_below_hull} below the hull: "
            "the potential or the hull is wrong here",
        )
    return "", ""


def is_flagged(results: pd.DataFrame) -> pd.Series:
    """Rows whose E_hull carries a flag (see ``FLAGS``)."""
    if "flag" not in results.columns:
        # Imported here: the command line's flags read RatingSettings, and must start fast.
        import pandas as pd  # noqa: PLC0415

        return pd.Series(False, index=results.index)
    return results["flag"].fillna("").astype(str) != ""
