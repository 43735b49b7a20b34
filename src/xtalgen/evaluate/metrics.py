"""Generation metrics, each citing the definition it follows.

Sources: CDVAE (Xie et al., ICLR 2022), the paper (Gruver et al., ICLR 2024) and MatterGen's S.U.N.
(Zeni et al., Nature 2025).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.distance import cdist, pdist
from scipy.stats import wasserstein_distance

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from xtalgen.evaluate.fingerprints import Fingerprints

__all__ = [
    "METASTABLE_EHULL",
    "MP20_COMP_CUTOFF",
    "MP20_STRUCT_CUTOFF",
    "SUN_EHULL",
    "Sample",
    "conditional_accuracy",
    "coverage",
    "diversity",
    "novel_mask",
    "unique_mask",
    "wasserstein",
]

# CDVAE's coverage cutoffs for MP-20 (COV_Cutoffs["mp20"]): structure 0.4, composition 10.
MP20_STRUCT_CUTOFF = 0.4
MP20_COMP_CUTOFF = 10.0
# The paper counts M3GNet E_hull < 0.1 eV/atom as metastable, and DFT E_hull < 0.0 as stable.
METASTABLE_EHULL = 0.1
DFT_STABLE_EHULL = 0.0
# MatterGen's S.U.N. counts a structure as stable within 0.1 eV/atom of the hull.
SUN_EHULL = 0.1


@dataclass
class Sample:
    """One generated sample: its structure (None when it never parsed) and what it was asked for."""

    id: str
    structure: Structure | None
    task: str = "unconditional"
    reason: str = ""
    conditions: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def with_conditions(
        cls, sample_id: str, structure: Structure | None, task: str, reason: str, raw: str
    ) -> Sample:
        """A sample whose conditions arrive as JSON text (the sampling stage's column)."""
        return cls(sample_id, structure, task or "unconditional", reason, json.loads(raw) if raw else {})


def coverage(
    samples: Fingerprints,
    valid: np.ndarray,
    reference: Fingerprints,
    n_generated: int,
    *,
    struct_cutoff: float = MP20_STRUCT_CUTOFF,
    comp_cutoff: float = MP20_COMP_CUTOFF,
) -> dict[str, float]:
    """CDVAE's COV-R and COV-P; precision over all generated samples (CDVAE) and over valid ones.

    Recall: the share of reference structures with a sample within both cutoffs. Precision (CDVAE's
    ``compute_cov``): samples within both cutoffs of some reference, divided by every generated
    sample. ``coverage_precision_valid`` divides the valid samples that are close by the valid ones.
    """
    ok = samples.ok
    ref = reference.ok
    if not ok.any() or not ref.any():
        return {"coverage_recall": 0.0, "coverage_precision": 0.0, "coverage_precision_valid": 0.0}
    struct = cdist(samples.structure[ok], reference.structure[ref])
    comp = cdist(samples.composition[ok], reference.composition[ref])
    recall = np.mean((struct.min(axis=0) <= struct_cutoff) & (comp.min(axis=0) <= comp_cutoff))
    close = np.zeros(len(ok), dtype=bool)
    close[ok] = (struct.min(axis=1) <= struct_cutoff) & (comp.min(axis=1) <= comp_cutoff)
    n_valid = int(valid.sum())
    return {
        "coverage_recall": float(recall),
        "coverage_precision": float(close.sum() / n_generated) if n_generated else 0.0,
        "coverage_precision_valid": float((close & valid).sum() / n_valid) if n_valid else 0.0,
    }


def wasserstein(values: list[float], reference: list[float]) -> float | None:
    """Earth mover's distance between two 1-D distributions (CDVAE's density and #elements)."""
    if not values or not reference:
        return None
    return float(wasserstein_distance(values, reference))


def diversity(fingerprints: np.ndarray) -> float | None:
    """Mean pairwise Euclidean distance of fingerprints (CDVAE's ``get_fp_pdist``)."""
    rows = fingerprints[np.isfinite(fingerprints).all(axis=1)]
    if len(rows) < 2:
        return None
    return float(pdist(rows).mean())


def _matcher():  # noqa: ANN202
    from pymatgen.analysis.structure_matcher import StructureMatcher  # noqa: PLC0415

    return StructureMatcher()  # pymatgen's defaults: ltol 0.2, stol 0.3, angle_tol 5


def novel_mask(structures: list[Structure], training: list[Structure]) -> np.ndarray:
    """True where no training structure matches (StructureMatcher defaults, as the paper).

    Only structures of the same reduced formula can match, so each sample is compared with those.
    """
    matcher = _matcher()
    by_formula: dict[str, list[Structure]] = defaultdict(list)
    for structure in training:
        by_formula[structure.composition.reduced_formula].append(structure)
    return np.array(
        [
            not any(matcher.fit(s, t) for t in by_formula.get(s.composition.reduced_formula, []))
            for s in structures
        ],
        dtype=bool,
    )


def unique_mask(structures: list[Structure]) -> np.ndarray:
    """True for the first structure of each group of matching structures."""
    matcher = _matcher()
    kept: dict[str, list[Structure]] = defaultdict(list)
    mask = []
    for structure in structures:
        formula = structure.composition.reduced_formula
        seen = any(matcher.fit(structure, other) for other in kept[formula])
        if not seen:
            kept[formula].append(structure)
        mask.append(not seen)
    return np.array(mask, dtype=bool)


def conditional_accuracy(samples: list[Sample], symprec: float = 0.2) -> dict[str, float | int | None]:
    """The paper's conditional metrics: reduced-formula match, and space group by spglib at 0.2."""
    from pymatgen.core import Composition  # noqa: PLC0415
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: PLC0415

    formula_hits, formula_n, group_hits, group_n = 0, 0, 0, 0
    for sample in samples:
        wanted = sample.conditions
        if "formula" in wanted:
            formula_n += 1
            if sample.structure is not None:
                target = Composition(str(wanted["formula"])).reduced_formula
                formula_hits += sample.structure.composition.reduced_formula == target
        if "spacegroup" in wanted:
            group_n += 1
            if sample.structure is not None:
                try:
                    number = SpacegroupAnalyzer(sample.structure, symprec=symprec).get_space_group_number()
                except Exception:  # spglib fails on degenerate cells: not a hit
                    number = None
                group_hits += number == int(wanted["spacegroup"])
    return {
        "conditional_samples": formula_n,
        "formula_accuracy": formula_hits / formula_n if formula_n else None,
        "spacegroup_samples": group_n,
        "spacegroup_accuracy": group_hits / group_n if group_n else None,
    }
