"""The evaluation of any generator's samples against the structures a run knows, as one JSON.

The paper's Table 1 metrics describe unconditional generation, so the top level of the result holds
the unconditional samples' metrics; ``by_task`` holds the same metrics for every task present. A
conditional sample is prompted with a test formula and an infill sample is a test structure with one
element swapped, so either would inflate coverage of the test set if pooled.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from xtalgen.errors import InputError
from xtalgen.evaluate.fingerprints import (
    Fingerprints,
    fingerprint_cifs,
    load_fingerprints,
    load_or_fingerprint,
)
from xtalgen.evaluate.metrics import (
    CONDITIONAL_COLUMNS,
    TASKS,
    Sample,
    conditional_accuracy,
    conditional_outcomes,
    coverage,
    definitions,
    diversity,
    fingerprint_novel_mask,
    infill_outcomes,
    novel_mask,
    relaxation_rmsd,
    unique_mask,
    wasserstein,
)
from xtalgen.evaluate.validity import composition_valid, structure_valid
from xtalgen.hull.rates import METASTABLE_EHULL, STABLE_EHULL, is_metastable, stability_rates
from xtalgen.io import RECORD_TEXT, atomic_output, job_cores, read_csv
from xtalgen.structures_io import cif_table, parse_cif, refuse_repeated_ids, structure_sha

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure

__all__ = ["Known", "evaluate", "evaluate_files", "known_set", "read_samples"]
log = logging.getLogger(__name__)


def read_samples(path: Path) -> list[Sample]:
    """Samples of samples.csv (final attempt per id), any CSV with a cif column, or a CIF folder.

    A sample that never parsed is kept, as an invalid one: validity is over every requested sample.
    A table without a ``task`` column holds unconditional samples.
    """
    if path.is_file() and path.name.endswith((".csv", ".csv.gz")):
        table = read_csv(path, "a samples table with a cif column", keep_default_na=False)
        if {"attempt", "status", "cif", "id"} <= set(table.columns):
            table = table.sort_values(["id", "attempt"])
            best = table[table["status"] == "ok"].groupby("id").head(1)
            never = table[~table["id"].isin(best["id"])].groupby("id").tail(1)
            table = pd.concat([best, never]).sort_index()
            out = []
            for row in table.to_dict("records"):
                structure, reason = parse_cif(row["cif"]) if row["cif"] else (None, row.get("reason", ""))
                sample = Sample.with_conditions(
                    str(row["id"]), structure, row.get("task", ""), reason or "", row.get("conditions", "")
                )
                sample.attempt = int(row["attempt"])
                sample.masked_element = str(row.get("masked_element", "") or "")
                sample.proposed_element = str(row.get("proposed_element", "") or "")
                out.append(sample)
            return out
    table = cif_table(path)
    tasks = table["task"] if "task" in table.columns else ["unconditional"] * len(table)
    samples = []
    for sample_id, cif, task in zip(table["id"], table["cif"], tasks, strict=True):
        structure, reason = parse_cif(cif) if cif else (None, "empty cif")
        samples.append(Sample(str(sample_id), structure, task=task, reason=reason or ""))
    return samples


def _structures(path: Path) -> tuple[list[str], list[Structure]]:
    table = cif_table(path)
    parsed = [parse_cif(c)[0] for c in table["cif"]]
    keep = [i for i, s in enumerate(parsed) if s is not None]
    return [table["cif"].iloc[i] for i in keep], [parsed[i] for i in keep]


@dataclass
class Known:
    """Every structure the run knows (novelty is measured against these), and what they are.

    ``seen`` holds further structures as CIF text by reduced formula (a pretraining corpus can hold
    tens of thousands); only those sharing a formula with a sample are ever parsed.
    """

    label: str
    structures: list[Structure]
    fingerprints: Fingerprints | None
    seen: dict[str, list[str]] = field(default_factory=dict)

    def matching(self, samples: list[Structure]) -> list[Structure]:
        """The known structures, plus the seen ones of the samples' formulas, parsed on demand."""
        formulas = {s.composition.reduced_formula for s in samples}
        extra = [parse_cif(c)[0] for f in formulas for c in self.seen.pop(f, [])]
        self.structures += [s for s in extra if s is not None]
        return self.structures


def known_set(
    paths: list[Path],
    *,
    saved: list[Path] | None = None,
    cache_dir: Path | None = None,
    workers: int = 1,
    seen: list[Path] | None = None,
    fingerprinted: bool = True,
) -> Known:
    """The known structures of ``paths`` (e.g. the train and validation splits, or ``--known``).

    ``saved`` are their fingerprints from ``fingerprint_reference``, one file per path. ``seen`` are
    further structures the model was trained on (the tiny base's extra rows): StructureMatcher
    novelty counts them, the fingerprint novelty does not (they have no fingerprints).
    Without ``fingerprinted`` nothing is fingerprinted: a set that only StructureMatcher reads
    (the fingerprint novelty measures against the training structures) costs no CrystalNN time.
    """
    structures: list[Structure] = []
    counts: list[int] = []
    structure_fp, composition_fp = [np.empty((0, 61))], [np.empty((0, 132))]
    for index, path in enumerate(paths):
        cifs, parsed = _structures(path)
        structures += parsed
        counts.append(len(cifs))
        if not fingerprinted:
            continue
        if saved is not None:
            fp = load_fingerprints(saved[index], cifs)
        else:
            fp = load_or_fingerprint(cifs, cache_dir, workers, f"{path.name} fingerprints")
        structure_fp.append(fp.structure)
        composition_fp.append(fp.composition)
    label = " + ".join(f"{p} ({n} structures)" for p, n in zip(paths, counts, strict=True))
    by_formula: dict[str, list[str]] = {}
    for path in seen or []:
        n = _seen_by_formula(path, by_formula)
        label += f" + {path} ({n} more structures the run has seen; StructureMatcher novelty only)"
    fingerprints = Fingerprints(np.vstack(structure_fp), np.vstack(composition_fp)) if fingerprinted else None
    return Known(label, structures, fingerprints, by_formula)


# Columns that state a row's formula, in the order trusted: ours, then MP-20's (MP's reduced formula).
FORMULA_COLUMNS = ("formula", "pretty_formula")


def _seen_by_formula(path: Path, into: dict[str, list[str]]) -> int:
    """CIFs of ``path`` by reduced formula, from a formula column (or by parsing where it has none).

    Parsing every CIF of a 15,000-row hull dataset costs over a minute per evaluation; its formula
    column costs a second, and only the rows of the samples' formulas are ever parsed.
    """
    from pymatgen.core import Composition  # noqa: PLC0415

    table = read_csv(path, "a structures table with a cif column", keep_default_na=False)
    columns = [c for c in FORMULA_COLUMNS if c in table.columns]
    for row in table.to_dict("records"):
        formula = None
        for column in columns:
            try:
                formula = Composition(str(row[column])).reduced_formula if row[column] else None
            except ValueError:
                formula = None
            if formula is not None:
                break
        if formula is None:
            structure = parse_cif(row["cif"])[0]
            if structure is None:
                continue
            formula = structure.composition.reduced_formula
        into.setdefault(formula, []).append(row["cif"])
    return len(table)


@dataclass
class _Ratings:
    """The prescreen's verdict on each sample, row-aligned with the samples.

    A relaxation that failed (exploded, or left an unphysical cell) and a structure the pre-filter
    skipped (fewer than ``prescreen.min_sites``, more than ``max_sites``) are verdicts too: the sample
    is not metastable, and it counts in the denominator of the rate over all samples.
    """

    ehull: np.ndarray
    flagged: np.ndarray
    failed: np.ndarray
    skipped: np.ndarray
    relaxed: list[Structure | None]

    @classmethod
    def read(cls, samples: list[Sample], prescreen: Path | None) -> _Ratings:
        n = len(samples)
        ehull, flagged = np.full(n, np.nan), np.zeros(n, bool)
        failed, skipped = np.zeros(n, bool), np.zeros(n, bool)
        relaxed: list[Structure | None] = [None] * n
        if prescreen is None:
            return cls(ehull, flagged, failed, skipped, relaxed)
        what = "the prescreen's results.csv"
        table = read_csv(prescreen, what, keep_default_na=False, na_values=[""], dtype=RECORD_TEXT)
        table = table[table["status"].isin(["ok", "failed", "skipped"])].drop_duplicates("id").set_index("id")
        for i, sample in enumerate(samples):
            if sample.id not in table.index or sample.structure is None:
                continue
            row = table.loc[sample.id]
            sha = row.get("structure_sha", "")
            if isinstance(sha, str) and sha and sha != structure_sha(sample.structure):
                continue  # a rating of another structure under this id: not this sample's
            if row["status"] in ("failed", "skipped"):
                failed[i], skipped[i] = row["status"] == "failed", row["status"] == "skipped"
                continue
            ehull[i] = float(row["e_above_hull"])
            flag = row.get("flag", "")
            flagged[i] = isinstance(flag, str) and bool(flag.strip())
            cif = row.get("cif_relaxed", "")
            relaxed[i] = parse_cif(cif)[0] if isinstance(cif, str) and cif else None
        return cls(ehull, flagged, failed, skipped, relaxed)


def _dft_ehull(samples: list[Sample], dft: Path | None) -> np.ndarray | None:
    """Each sample's E_hull^DFT, joined by its structure's hash, never by its id alone.

    Ids are renumbered from run to run: a result computed for an earlier run's ``u-3`` must not be
    reported for this run's ``u-3`` unless they are the same structure.
    """
    if dft is None:
        return None
    what = "the table of `xtalgen dft collect`"
    table = read_csv(dft, what, keep_default_na=False, na_values=[""], dtype={"structure_sha": str})
    if "structure_sha" not in table.columns:
        raise InputError(f"{dft}: no structure_sha column (an older table); rerun `xtalgen dft collect`")
    rated = table[table["e_above_hull_dft"].notna()]
    values = dict(zip(rated["structure_sha"], rated["e_above_hull_dft"].astype(float), strict=True))
    shas = [structure_sha(s.structure) if s.structure is not None else "" for s in samples]
    return np.array([values.get(sha, np.nan) for sha in shas], dtype=float)


@dataclass
class _Context:
    samples: list[Sample]
    struct_ok: np.ndarray
    comp_ok: np.ndarray
    fingerprints: Fingerprints
    test_structures: list[Structure]
    test_fp: Fingerprints
    known: Known
    ratings: _Ratings
    dft_ehull: np.ndarray | None
    train_known: Known | None
    keep_flagged: bool
    ehull_tolerance: float
    ehull_max: float


def _task_metrics(ctx: _Context, index: np.ndarray) -> dict[str, Any]:
    """Every metric over the samples at ``index`` (one task), each with its own denominator."""
    samples = [ctx.samples[i] for i in index]
    n = len(index)
    struct_ok, comp_ok = ctx.struct_ok[index], ctx.comp_ok[index]
    valid = struct_ok & comp_ok
    fp = Fingerprints(ctx.fingerprints.structure[index], ctx.fingerprints.composition[index])
    valid_structures = [s.structure for s, ok in zip(samples, valid, strict=True) if ok]
    novel = novel_mask(valid_structures, ctx.known.matching(valid_structures))
    novel_fp = fingerprint_novel_mask(
        Fingerprints(fp.structure[valid], fp.composition[valid]), _fingerprint_reference(ctx).fingerprints
    )
    unique = unique_mask(valid_structures)
    metrics: dict[str, Any] = {
        "n_samples": n,
        "n_parsed": sum(s.structure is not None for s in samples),
        "n_valid": int(valid.sum()),
        "structural_validity": float(struct_ok.mean()) if n else None,
        "compositional_validity": float(comp_ok.mean()) if n else None,
        "validity": float(valid.mean()) if n else None,
        **_first_draws(samples, struct_ok, comp_ok),
        **coverage(fp, valid, ctx.test_fp, n),
        "wdist_density": wasserstein(
            [s.density for s in valid_structures], [s.density for s in ctx.test_structures]
        ),
        "wdist_num_elements": wasserstein(
            [len(s.composition.elements) for s in valid_structures],
            [len(s.composition.elements) for s in ctx.test_structures],
        ),
        "diversity_structure": diversity(fp.structure[valid]),
        "diversity_composition": diversity(fp.composition[valid]),
        "novelty": float(novel.mean()) if len(novel) else None,
        "novelty_train": _novelty_train(ctx, valid_structures),
        "novelty_fingerprint": float(novel_fp.mean()) if len(novel_fp) else None,
        "uniqueness": float(unique.mean()) if len(unique) else None,
    }
    ehull, flagged = ctx.ratings.ehull[index], ctx.ratings.flagged[index]
    metrics |= stability_rates(ehull, flagged, n, keep_flagged=ctx.keep_flagged, ehull_max=ctx.ehull_max)
    failed, skipped = ctx.ratings.failed[index], ctx.ratings.skipped[index]
    metrics["n_relax_failed"] = int((failed & valid).sum())
    metrics["n_prefiltered"] = int((skipped & valid).sum())
    verdict = np.isfinite(ehull) | failed | skipped
    metrics["rated_all_valid"] = bool(verdict[valid].all()) if n else None
    metrics |= _sun(ctx, index, ehull, flagged)
    metrics |= _dft_stability(ctx, index, ehull, flagged)
    metrics["invalid_reasons"] = _reasons(samples, struct_ok, comp_ok)
    return metrics


def _fingerprint_reference(ctx: _Context) -> Known:
    """The paper's fingerprint novelty is against training structures; the known set without them."""
    known = ctx.train_known if ctx.train_known is not None else ctx.known
    if known.fingerprints is None:
        raise ValueError(f"{known.label}: no fingerprints; build it with known_set(fingerprinted=True)")
    return known


def _novelty_train(ctx: _Context, valid: list[Structure]) -> float | None:
    """The paper's novelty: valid samples that no training structure matches."""
    if ctx.train_known is None or not valid:
        return None
    return float(novel_mask(valid, ctx.train_known.matching(valid)).mean())


def _first_draws(samples: list[Sample], struct_ok: np.ndarray, comp_ok: np.ndarray) -> dict[str, Any]:
    """Validity without the redraws, and how many elements the samples have."""
    n = len(samples)
    first = np.array([s.attempt == 1 for s in samples], dtype=bool)
    counts = [len(s.structure.composition.elements) for s in samples if s.structure is not None]
    return {
        "structural_validity_first_draw": float((struct_ok & first).mean()) if n else None,
        "compositional_validity_first_draw": float((comp_ok & first).mean()) if n else None,
        "median_elements": float(np.median(counts)) if counts else None,
    }


def _sun(ctx: _Context, index: np.ndarray, ehull: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    """MatterGen's S.U.N. and relaxation RMSD, on the relaxed structures of the rated samples."""
    rated = [k for k, i in enumerate(index) if ctx.ratings.relaxed[i] is not None]
    relaxed = [ctx.ratings.relaxed[index[k]] for k in rated]
    unique = unique_mask(relaxed)
    novel = novel_mask(relaxed, ctx.known.matching(relaxed))
    trusted = ctx.keep_flagged | ~flagged[rated]
    values = ehull[rated]
    n = len(index)
    sun = unique & novel & trusted & is_metastable(values, ctx.ehull_max)
    sun_stable = unique & novel & trusted & (values < STABLE_EHULL)
    pairs = [(ctx.samples[index[k]].structure, r) for k, r in zip(rated, relaxed, strict=True)]
    rmsd = relaxation_rmsd(pairs)
    return {
        "sun": int(sun.sum()),
        "sun_rate": float(sun.sum() / n) if n else None,
        "sun_rate_stable": float(sun_stable.sum() / n) if n else None,
        "rmsd_relaxation": float(np.mean(rmsd[np.isfinite(rmsd)])) if np.isfinite(rmsd).any() else None,
        "rmsd_relaxation_unmatched": int((~np.isfinite(rmsd)).sum()),
    }


def _dft_stability(
    ctx: _Context, index: np.ndarray, ehull: np.ndarray, flagged: np.ndarray
) -> dict[str, Any]:
    """The paper's footnote: M3GNet-metastable (at ehull_max) first, then DFT E_hull < 0, over all samples."""
    if ctx.dft_ehull is None:
        return {"dft_completed": None, "dft_stable": None, "dft_stable_rate": None}
    dft = ctx.dft_ehull[index]
    metastable = is_metastable(ehull, ctx.ehull_max) & (ctx.keep_flagged | ~flagged)
    stable = metastable & np.isfinite(dft) & (dft < STABLE_EHULL)
    n = len(index)
    return {
        "dft_completed": int(np.isfinite(dft).sum()),
        "dft_stable": int(stable.sum()),
        "dft_stable_rate": float(stable.sum() / n) if n else None,
    }


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


def evaluate(
    samples: list[Sample],
    known: Known,
    test: Path,
    *,
    prescreen: Path | None = None,
    dft: Path | None = None,
    cache_dir: Path | None = None,
    reference: Path | None = None,
    workers: int | None = None,
    keep_flagged: bool = False,
    ipt: dict[str, Any] | None = None,
    ehull_tolerance: float = 0.05,
    ehull_max: float = METASTABLE_EHULL,
    train_known: Known | None = None,
) -> dict[str, Any]:
    """The unconditional samples' metrics at the top level, and every task's under ``by_task``.

    ``reference`` is the test set's saved fingerprints; otherwise they come from ``cache_dir``.
    """
    workers = workers or job_cores()
    refuse_repeated_ids((s.id for s in samples), "samples")
    n = len(samples)
    structures = [s.structure for s in samples]
    parsed = [i for i, s in enumerate(structures) if s is not None]
    test_cifs, test_structures = _structures(test)
    if reference is not None:
        test_fp = load_fingerprints(reference, test_cifs)
    else:
        test_fp = load_or_fingerprint(test_cifs, cache_dir, workers, "test fingerprints")
    sample_fp = fingerprint_cifs(
        [structures[i].to(fmt="cif") for i in parsed], workers, "sample fingerprints"
    )
    full = Fingerprints(np.full((n, 61), np.nan), np.full((n, 132), np.nan))
    full.structure[parsed] = sample_fp.structure
    full.composition[parsed] = sample_fp.composition
    ctx = _Context(
        samples=samples,
        struct_ok=np.array([s is not None and structure_valid(s) for s in structures], dtype=bool),
        comp_ok=np.array(
            [s is not None and composition_valid(s.composition) for s in structures], dtype=bool
        ),
        fingerprints=full,
        test_structures=test_structures,
        test_fp=test_fp,
        known=known,
        ratings=_Ratings.read(samples, prescreen),
        dft_ehull=_dft_ehull(samples, dft),
        train_known=train_known,
        keep_flagged=keep_flagged,
        ehull_tolerance=ehull_tolerance,
        ehull_max=ehull_max,
    )
    tasks = [s.task for s in samples]
    by_task = {}
    for task in sorted(set(tasks), key=lambda t: (TASKS.index(t) if t in TASKS else len(TASKS), t)):
        index = np.array([i for i, t in enumerate(tasks) if t == task], dtype=int)
        by_task[task] = _task_metrics(ctx, index) | _task_extras(ctx, task, index)
    unconditional = by_task.get("unconditional") or _task_metrics(ctx, np.array([], dtype=int))
    metrics: dict[str, Any] = {
        "task": "unconditional",
        "ehull_max": ehull_max,
        **unconditional,
        "by_task": by_task,
        "novelty_reference": known.label,
        "novelty_train_reference": train_known.label if train_known is not None else None,
        "novelty_fingerprint_reference": (train_known or known).label,
        "ipt": ipt,
    }
    if "infill" in by_task:
        metrics["infill_vs_uniform"] = {
            key: {t: by_task[t].get(key) for t in ("infill", "infill_uniform") if t in by_task}
            for key in ("n_samples", "n_rated", "infill_success", "m3gnet_metastable_rate")
        }
    metrics["definitions"] = definitions(ehull_max)
    return metrics


# by_task["conditional"][OUTCOMES_KEY]: the per-sample rows; evaluate_files moves them to their own CSV.
OUTCOMES_KEY = "outcomes"


def _task_extras(ctx: _Context, task: str, index: np.ndarray) -> dict[str, Any]:
    samples = [ctx.samples[i] for i in index]
    if task == "conditional":
        ehull = ctx.ratings.ehull[index]
        outcomes = conditional_outcomes(samples, ehull, tolerance=ctx.ehull_tolerance)
        accuracy = conditional_accuracy(samples, ehull, tolerance=ctx.ehull_tolerance, outcomes=outcomes)
        return accuracy | {OUTCOMES_KEY: outcomes}
    if task.startswith("infill"):
        valid = ctx.struct_ok[index] & ctx.comp_ok[index]
        return infill_outcomes(samples, valid)
    return {}


def evaluate_files(
    samples: Path,
    known: list[Path],
    test: Path,
    out: Path,
    *,
    baseline: Path | None = None,
    known_reference: list[Path] | None = None,
    prescreen: Path | None = None,
    dft: Path | None = None,
    cache_dir: Path | None = None,
    reference: Path | None = None,
    ipt: Path | None = None,
    workers: int | None = None,
    keep_flagged: bool = False,
    ehull_tolerance: float = 0.05,
    ehull_max: float = METASTABLE_EHULL,
    seen: list[Path] | None = None,
    train: Path | None = None,
    train_reference: Path | None = None,
    conditional_out: Path | None = None,
) -> dict[str, Any]:
    """Read, evaluate, and write the metrics JSON; ``baseline`` is the uniform infill baseline.

    ``seen``: more structures the run knows (the tiny base's corpus, the dataset hull's rows),
    counted by StructureMatcher novelty. ``train`` (with its saved fingerprints): the training
    structures, for the paper's novelty (``novelty_train``) and its fingerprint novelty
    (``novelty_fingerprint``); without it the fingerprint novelty is against ``known``, which is
    then fingerprinted.
    ``conditional_out``: a CSV of each conditional sample's request, what it wrote and what it met
    (header only when the run drew none). The rows never go into the JSON, which stays small.
    """
    workers = workers or job_cores()
    rows = read_samples(samples) + (read_samples(baseline) if baseline is not None else [])
    metrics = evaluate(
        rows,
        known_set(
            known,
            saved=known_reference,
            cache_dir=cache_dir,
            workers=workers,
            seen=seen,
            fingerprinted=train is None,
        ),
        test,
        prescreen=prescreen,
        dft=dft,
        cache_dir=cache_dir,
        reference=reference,
        workers=workers,
        keep_flagged=keep_flagged,
        ipt=json.loads(ipt.read_text()) if ipt is not None else None,
        ehull_tolerance=ehull_tolerance,
        ehull_max=ehull_max,
        train_known=known_set(
            [train],
            saved=[train_reference] if train_reference is not None else None,
            cache_dir=cache_dir,
            workers=workers,
        )
        if train is not None
        else None,
    )
    outcomes = metrics["by_task"].get("conditional", {}).pop(OUTCOMES_KEY, [])
    if conditional_out is not None:
        with atomic_output(conditional_out) as tmp:
            table = pd.DataFrame(outcomes, columns=CONDITIONAL_COLUMNS)
            table = table.astype({"spacegroup": "Int64", "spacegroup_found": "Int64"})  # 225, not 225.0
            table.to_csv(tmp, index=False)
    with atomic_output(out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
