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

from xtalgen.hull.rates import METASTABLE_EHULL
from xtalgen.hull.rates import definitions as rate_definitions

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from xtalgen.evaluate.fingerprints import Fingerprints

__all__ = [
    "COMP_NOVELTY_CUTOFF",
    "CONDITIONAL_COLUMNS",
    "DEFINITIONS",
    "MP20_COMP_CUTOFF",
    "MP20_STRUCT_CUTOFF",
    "STRUCT_NOVELTY_CUTOFF",
    "TASKS",
    "Sample",
    "conditional_accuracy",
    "conditional_outcomes",
    "coverage",
    "diversity",
    "fingerprint_novel_mask",
    "infill_outcomes",
    "novel_mask",
    "relaxation_rmsd",
    "unique_mask",
    "wasserstein",
]

# CDVAE's coverage cutoffs for MP-20 (COV_Cutoffs["mp20"]): structure 0.4, composition 10.
MP20_STRUCT_CUTOFF = 0.4
MP20_COMP_CUTOFF = 10.0
# The paper's novelty: the nearest known structure is farther than these in fingerprint distance.
STRUCT_NOVELTY_CUTOFF = 0.1
COMP_NOVELTY_CUTOFF = 2.0
# The tasks of the sampler, then the paper's uniform infill baseline, in report order.
TASKS = ("unconditional", "conditional", "infill", "infill_uniform")
# The rows of conditional_outcomes: each condition as requested, as found, and whether it was met.
CONDITIONAL_COLUMNS = (
    "id",
    "formula",
    "formula_written",
    "formula_met",
    "elements_met",
    "spacegroup",
    "spacegroup_found",
    "spacegroup_met",
    "e_above_hull",
    "e_above_hull_m3gnet",
    "e_above_hull_met",
)

_DEFINITIONS: dict[str, str] = {
    "task": "the top-level metrics are those of the unconditional samples (the paper's Table 1); "
    "by_task holds the same metrics per task",
    "n_samples": "samples requested of the task; one that never parsed counts as invalid",
    "structural_validity": "CDVAE: all distances >= 0.5 Å and volume >= 0.1 Å^3, over n_samples",
    "compositional_validity": "CDVAE: SMACT charge-neutral and Pauling-consistent, over n_samples "
    "(a composition with over 10^6 oxidation-state combinations, never in MP-20, counts as invalid)",
    "structural_validity_first_draw": "structural validity counting only samples whose first draw "
    "gave them, over n_samples",
    "compositional_validity_first_draw": "compositional validity counting only samples whose first "
    "draw gave them, over n_samples",
    "median_elements": "median number of elements of the parsed samples (MP-20: 3)",
    "coverage_recall": "CDVAE COV-R: test structures with a valid sample within both fingerprint "
    "cutoffs (0.4, 10)",
    "coverage_precision": "CDVAE COV-P: samples within both cutoffs of a test structure, over n_samples",
    "coverage_precision_valid": "the same over valid samples",
    "wdist_density": "Wasserstein distance of valid samples' densities to the test split's",
    "wdist_num_elements": "Wasserstein distance of valid samples' element counts to the test split's",
    "diversity_structure": "mean pairwise structure-fingerprint distance of valid samples",
    "diversity_composition": "mean pairwise composition-fingerprint distance of valid samples",
    "novelty": "valid samples no known structure matches (StructureMatcher defaults), over valid "
    "samples; known structures: novelty_reference (by default every structure the run has seen: all "
    "splits, the tiny base's corpus and the dataset hull's rows)",
    "novelty_train": "the paper's novelty: valid samples no training structure matches "
    "(StructureMatcher defaults), over valid samples; training structures: novelty_train_reference",
    "novelty_fingerprint": "the paper's: valid samples whose nearest training structure is farther than "
    "0.1 (structure fingerprint) or 2.0 (composition fingerprint), over valid samples; training "
    "structures: novelty_fingerprint_reference",
    "uniqueness": "valid samples matching no earlier valid sample, over valid samples",
    "sun_rate": "MatterGen S.U.N.: relaxed structures unique among the relaxed, novel against the "
    "known structures and unflagged with M3GNet E_hull < {ehull_max} eV/atom, over n_samples",
    "sun_rate_stable": "the same with E_hull < 0.0 eV/atom",
    "rmsd_relaxation": "mean StructureMatcher RMS distance between a rated sample and its relaxed "
    "structure (MatterGen's avg_rmsd_from_relaxation); rmsd_relaxation_unmatched did not match",
    "dft_stable_rate": "the paper's footnote: M3GNet E_hull < {ehull_max} eV/atom, then DFT E_hull < 0.0, "
    "over n_samples; dft_completed counts samples with a DFT E_hull",
    "formula_accuracy": "samples whose reduced formula equals the requested one, over the samples "
    "asked for a formula",
    "elements_accuracy": "samples that hold exactly the requested formula's elements, whatever their "
    "counts, over the samples asked for a formula (a formula met is also elements met)",
    "spacegroup_accuracy": "samples whose space group (SpacegroupAnalyzer, symprec 0.2) is the requested "
    "one, over the samples asked for one",
    "e_above_hull_accuracy": "samples whose M3GNet E_hull is within e_above_hull_tolerance of the "
    "requested value, over the samples asked for one (unrated samples are misses)",
    "all_conditions_accuracy": "samples meeting every condition they carried, over the samples that "
    "carried formula, space group and E_hull",
    "infill_success": "valid infills that are not identity, over infill samples",
    "infill_identity": "infills whose proposed element is the masked one (a known structure rebuilt)",
    "ipt": "the paper's increase in perplexity under translation, on validation structures",
}


def definitions(ehull_max: float = METASTABLE_EHULL) -> dict[str, str]:
    """What each metric counts, with the run's metastable threshold written in."""
    text = {k: v.replace("{ehull_max}", f"{ehull_max:g}") for k, v in _DEFINITIONS.items()}
    return text | rate_definitions(ehull_max)


DEFINITIONS = definitions()


@dataclass
class Sample:
    """One generated sample: its structure (None when it never parsed) and what it was asked for."""

    id: str
    structure: Structure | None
    task: str = "unconditional"
    reason: str = ""
    conditions: dict[str, Any] = field(default_factory=dict)
    masked_element: str = ""
    proposed_element: str = ""
    attempt: int = 1  # the draw that gave this sample (redraws follow a draw that did not parse)

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
    """True for the first structure of each group that pymatgen's ``group_structures`` forms."""
    position = {id(structure): index for index, structure in enumerate(structures)}
    mask = np.zeros(len(structures), dtype=bool)
    for group in _matcher().group_structures(structures):
        mask[min(position[id(member)] for member in group)] = True
    return mask


def _spacegroup(structure: Structure, symprec: float) -> int | None:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: PLC0415

    try:
        return SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number()
    except Exception:  # spglib fails on degenerate cells: not a hit
        return None


def conditional_outcomes(
    samples: list[Sample],
    ehull: np.ndarray | None = None,
    *,
    symprec: float = 0.2,
    tolerance: float = 0.05,
) -> list[dict[str, Any]]:
    """Per sample: what it was asked for, what it wrote, and whether each condition was met.

    A reader audits the conditional rates from these rows (the report shows them), so a miss says
    what the model wrote instead. Keys absent from a sample's conditions stay ``None``.
    """
    from pymatgen.core import Composition  # noqa: PLC0415

    ehull = np.full(len(samples), np.nan) if ehull is None else np.asarray(ehull, dtype=float)
    rows: list[dict[str, Any]] = []
    for sample, value in zip(samples, ehull, strict=True):
        wanted, structure = sample.conditions, sample.structure
        found_group = _spacegroup(structure, symprec) if structure is not None else None
        row: dict[str, Any] = dict.fromkeys(CONDITIONAL_COLUMNS) | {
            "id": sample.id,
            "formula_written": structure.composition.reduced_formula if structure is not None else None,
            "spacegroup_found": found_group,
            "e_above_hull_m3gnet": float(value) if np.isfinite(value) else None,
        }
        if "formula" in wanted:
            asked = Composition(str(wanted["formula"]))
            row["formula"] = asked.reduced_formula
            row["formula_met"] = row["formula_written"] == row["formula"]
            row["elements_met"] = (
                structure is not None and structure.composition.chemical_system == asked.chemical_system
            )
        if "spacegroup" in wanted:
            row["spacegroup"] = int(wanted["spacegroup"])
            row["spacegroup_met"] = found_group == row["spacegroup"]
        if "e_above_hull" in wanted:
            target_ehull = float(wanted["e_above_hull"])
            row["e_above_hull"] = target_ehull
            row["e_above_hull_met"] = bool(np.isfinite(value) and abs(value - target_ehull) <= tolerance)
        rows.append(row)
    return rows


def conditional_accuracy(
    samples: list[Sample],
    ehull: np.ndarray | None = None,
    *,
    symprec: float = 0.2,
    tolerance: float = 0.05,
    outcomes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The paper's conditional metrics, each over the samples that carried that condition.

    Formula: reduced formulas equal. Space group: SpacegroupAnalyzer at ``symprec``. E_hull: the
    sample's M3GNet E_hull (``ehull``, row-aligned, NaN when unrated) within ``tolerance`` eV/atom of
    the request. ``all_conditions`` is over samples that carried all three. ``elements`` (not the
    paper's) says how near the formula misses came: the sample holds exactly the formula's elements,
    whatever their counts. ``outcomes``: rows of
    :func:`conditional_outcomes` already computed for these samples.
    """
    if outcomes is None:
        outcomes = conditional_outcomes(samples, ehull, symprec=symprec, tolerance=tolerance)
    keys = ("formula", "spacegroup", "e_above_hull")
    hits: dict[str, list[bool]] = {key: [] for key in (*keys, "all", "elements")}
    for row in outcomes:
        if row.get("elements_met") is not None:
            hits["elements"].append(bool(row["elements_met"]))
        met = {key: row[f"{key}_met"] for key in keys if row[f"{key}_met"] is not None}
        for key, hit in met.items():
            hits[key].append(hit)
        if set(keys) <= set(met):
            hits["all"].append(all(met.values()))

    def share(values: list[bool]) -> float | None:
        return float(np.mean(values)) if values else None

    return {
        "conditional_samples": len(outcomes),
        "formula_samples": len(hits["formula"]),
        "formula_accuracy": share(hits["formula"]),
        "elements_accuracy": share(hits["elements"]),
        "spacegroup_samples": len(hits["spacegroup"]),
        "spacegroup_accuracy": share(hits["spacegroup"]),
        "e_above_hull_samples": len(hits["e_above_hull"]),
        "e_above_hull_accuracy": share(hits["e_above_hull"]),
        "e_above_hull_tolerance": tolerance,
        "all_conditions_samples": len(hits["all"]),
        "all_conditions_accuracy": share(hits["all"]),
    }


def infill_outcomes(samples: list[Sample], valid: np.ndarray) -> dict[str, Any]:
    """Infill success as the paper counts it: a valid structure that is not the masked element back."""
    identity = np.array(
        [bool(s.masked_element) and s.proposed_element == s.masked_element for s in samples], dtype=bool
    )
    n = len(samples)
    return {
        "infill_identity": int(identity.sum()),
        "infill_success": float((valid & ~identity).sum() / n) if n else None,
    }


def fingerprint_novel_mask(samples: Fingerprints, known: Fingerprints) -> np.ndarray:
    """The paper's novelty: nearest known structure farther than 0.1 (structure) or 2.0 (composition).

    A sample whose fingerprint failed is not novel by this definition (nothing was measured).
    """
    ok = samples.ok
    out = np.zeros(len(ok), dtype=bool)
    ref = known.ok
    if not ok.any():
        return out
    if not ref.any():
        out[ok] = True
        return out
    struct = cdist(samples.structure[ok], known.structure[ref]).min(axis=1)
    comp = cdist(samples.composition[ok], known.composition[ref]).min(axis=1)
    out[ok] = (struct > STRUCT_NOVELTY_CUTOFF) | (comp > COMP_NOVELTY_CUTOFF)
    return out


def relaxation_rmsd(pairs: list[tuple[Structure | None, Structure]]) -> np.ndarray:
    """StructureMatcher RMS distance of each (sample, relaxed) pair; NaN where they do not match."""
    matcher = _matcher()
    out = np.full(len(pairs), np.nan)
    for k, (before, after) in enumerate(pairs):
        if before is None:
            continue
        try:
            found = matcher.get_rms_dist(before, after)
        except Exception:  # a degenerate cell StructureMatcher cannot reduce: no distance
            found = None
        if found is not None:
            out[k] = float(found[0])
    return out
