"""The evaluation of any generator's samples against a training and a test set, as one JSON."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xtalgen.evaluate.fingerprints import fingerprint_cifs, load_fingerprints, load_or_fingerprint
from xtalgen.evaluate.metrics import (
    METASTABLE_EHULL,
    SUN_EHULL,
    Sample,
    conditional_accuracy,
    coverage,
    diversity,
    novel_mask,
    unique_mask,
    wasserstein,
)
from xtalgen.evaluate.validity import composition_valid, structure_valid
from xtalgen.io import atomic_output, job_cores
from xtalgen.structures_io import cif_table, parse_cif

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["evaluate", "evaluate_files", "read_samples"]
log = logging.getLogger(__name__)


def read_samples(path: Path) -> list[Sample]:
    """Samples of samples.csv (final attempt per id), any CSV with a cif column, or a CIF folder.

    A sample that never parsed is kept, as an invalid one: validity is over every requested sample.
    """
    if path.is_file() and path.name.endswith((".csv", ".csv.gz")):
        table = pd.read_csv(path, keep_default_na=False)
        if {"attempt", "status", "cif", "id"} <= set(table.columns):
            table = table.sort_values(["id", "attempt"])
            best = table[table["status"] == "ok"].groupby("id").head(1)
            never = table[~table["id"].isin(best["id"])].groupby("id").tail(1)
            table = pd.concat([best, never]).sort_index()
            out = []
            for row in table.to_dict("records"):
                structure, reason = parse_cif(row["cif"]) if row["cif"] else (None, row.get("reason", ""))
                out.append(
                    Sample.with_conditions(
                        str(row["id"]),
                        structure,
                        row.get("task", ""),
                        reason or "",
                        row.get("conditions", ""),
                    )
                )
            return out
    table = cif_table(path)
    samples = []
    for sample_id, cif in zip(table["id"], table["cif"], strict=True):
        structure, reason = parse_cif(cif) if cif else (None, "empty cif")
        samples.append(Sample(str(sample_id), structure, reason=reason or ""))
    return samples


def _structures(path: Path) -> tuple[list[str], list[Any]]:
    table = cif_table(path)
    parsed = [parse_cif(c)[0] for c in table["cif"]]
    keep = [i for i, s in enumerate(parsed) if s is not None]
    return [table["cif"].iloc[i] for i in keep], [parsed[i] for i in keep]


def evaluate(
    samples: list[Sample],
    train: Path,
    test: Path,
    *,
    prescreen: Path | None = None,
    dft: Path | None = None,
    cache_dir: Path | None = None,
    reference: Path | None = None,
    workers: int | None = None,
    keep_flagged: bool = False,
) -> dict[str, Any]:
    """Every metric of the paper's Table 1 that the inputs allow, plus validity reasons.

    ``reference`` is the test set's saved fingerprints; otherwise they come from ``cache_dir``.
    """
    workers = workers or job_cores()
    n = len(samples)
    structures = [s.structure for s in samples]
    struct_ok = np.array([s is not None and structure_valid(s) for s in structures], dtype=bool)
    comp_ok = np.array([s is not None and composition_valid(s.composition) for s in structures], dtype=bool)
    valid = struct_ok & comp_ok
    parsed = [i for i, s in enumerate(structures) if s is not None]

    test_cifs, test_structures = _structures(test)
    _, train_structures = _structures(train)
    if reference is not None:
        test_fp = load_fingerprints(reference, test_cifs)
    else:
        test_fp = load_or_fingerprint(test_cifs, cache_dir, workers, "test fingerprints")
    sample_fp = fingerprint_cifs(
        [structures[i].to(fmt="cif") for i in parsed], workers, "sample fingerprints"
    )
    full = type(sample_fp)(np.full((n, 61), np.nan), np.full((n, 132), np.nan))
    full.structure[parsed] = sample_fp.structure
    full.composition[parsed] = sample_fp.composition

    valid_structures = [structures[i] for i in np.flatnonzero(valid)]
    novel = novel_mask(valid_structures, train_structures) if valid_structures else np.array([], bool)
    unique = unique_mask(valid_structures) if valid_structures else np.array([], bool)

    metrics: dict[str, Any] = {
        "n_samples": n,
        "n_parsed": len(parsed),
        "structural_validity": float(struct_ok.mean()) if n else 0.0,
        "compositional_validity": float(comp_ok.mean()) if n else 0.0,
        "validity": float(valid.mean()) if n else 0.0,
        **coverage(full, valid, test_fp, n),
        "wdist_density": wasserstein(
            [s.density for s in valid_structures], [s.density for s in test_structures]
        ),
        "wdist_num_elements": wasserstein(
            [len(s.composition.elements) for s in valid_structures],
            [len(s.composition.elements) for s in test_structures],
        ),
        "diversity_structure": diversity(full.structure[valid]),
        "diversity_composition": diversity(full.composition[valid]),
        "novelty": float(novel.mean()) if len(novel) else None,
        "uniqueness": float(unique.mean()) if len(unique) else None,
    }
    metrics |= _stability(samples, valid, novel & unique, prescreen, keep_flagged=keep_flagged)
    metrics |= _dft_stability(samples, dft)
    metrics |= conditional_accuracy([s for s in samples if s.task == "conditional"])
    infill = [i for i, s in enumerate(samples) if s.task == "infill"]
    metrics["infill_samples"] = len(infill)
    metrics["infill_success"] = float(valid[infill].mean()) if infill else None
    metrics["invalid_reasons"] = _reasons(samples, struct_ok, comp_ok)
    return metrics


def _stability(
    samples: list[Sample],
    valid: np.ndarray,
    unique_novel: np.ndarray,
    prescreen: Path | None,
    *,
    keep_flagged: bool = False,
) -> dict[str, Any]:
    """M3GNet metastable rate (the paper: E_hull < 0.1 over all samples) and S.U.N. (MatterGen).

    A flagged E_hull (no reference compound in the system, or far below the hull) is no distance to
    the hull, so it never counts as stable unless ``keep_flagged``.
    """
    out: dict[str, Any] = {"m3gnet_metastable_rate": None, "sun_rate": None}
    if prescreen is None:
        return out
    table = pd.read_csv(prescreen, keep_default_na=False, na_values=[""])
    if not keep_flagged and "flag" in table.columns:
        table.loc[table["flag"].fillna("").astype(str) != "", "e_above_hull"] = np.nan
    ehull = dict(zip(table["id"].astype(str), table["e_above_hull"], strict=True))
    values = np.array([ehull.get(s.id, np.nan) for s in samples], dtype=float)
    n = len(samples)
    out["m3gnet_metastable_rate"] = float(np.sum(values < METASTABLE_EHULL) / n) if n else 0.0
    valid_ids = np.flatnonzero(valid)
    sun = sum(
        1 for k, i in enumerate(valid_ids) if unique_novel[k] and values[i] < SUN_EHULL
    )  # unique, novel against the training set, and within 0.1 eV/atom of the hull
    out["sun_rate"] = sun / n if n else 0.0
    return out


def _dft_stability(samples: list[Sample], dft: Path | None) -> dict[str, Any]:
    """The paper's DFT stable rate: samples with E_hull^DFT < 0 over all samples generated."""
    if dft is None:
        return {"dft_stable_rate": None, "dft_completed": None}
    table = pd.read_csv(dft, keep_default_na=False, na_values=[""], dtype={"candidate_id": str})
    rated = table[table["e_above_hull_dft"].notna()]
    stable = set(rated.loc[rated["stable"].astype(str) == "True", "candidate_id"])
    n = len(samples)
    hits = sum(1 for s in samples if s.id in stable)
    return {"dft_stable_rate": hits / n if n else 0.0, "dft_completed": len(rated)}


def _reasons(samples: list[Sample], struct_ok: np.ndarray, comp_ok: np.ndarray) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sample, s_ok, c_ok in zip(samples, struct_ok, comp_ok, strict=True):
        if sample.structure is None:
            reason = f"unparsed: {sample.reason[:60]}" if sample.reason else "unparsed"
        elif not s_ok:
            reason = "structurally invalid (atoms closer than 0.5 Å or volume below 0.1 Å^3)"
        elif not c_ok:
            reason = "compositionally invalid (SMACT: no charge-neutral, Pauling-consistent assignment)"
        else:
            continue
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def evaluate_files(
    samples: Path,
    train: Path,
    test: Path,
    out: Path,
    *,
    prescreen: Path | None = None,
    dft: Path | None = None,
    cache_dir: Path | None = None,
    reference: Path | None = None,
    workers: int | None = None,
    keep_flagged: bool = False,
) -> dict[str, Any]:
    """Read, evaluate, and write the metrics JSON."""
    metrics = evaluate(
        read_samples(samples),
        train,
        test,
        prescreen=prescreen,
        dft=dft,
        cache_dir=cache_dir,
        reference=reference,
        workers=workers,
        keep_flagged=keep_flagged,
    )
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
