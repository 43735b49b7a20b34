"""Status and collection: finished static TaskDocs become MP2020-corrected entries rated on the hull.

Collection can run at any time. It picks up newly finished calculations and merges them into what it
collected before (``collected.json``), so a store that was cleaned or a LaunchPad that was reset never
takes a result away; every collected entry is rated anew on the run's hull each time. Stable follows
the paper (E_hull^DFT < 0); metastable is E_hull^DFT below ``prescreen.ehull_max`` (0.1 eV/atom).
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd
from monty.json import MontyDecoder, MontyEncoder

from xtalgen.dft.state import Ledger, StateConfig, job_store, launchpad
from xtalgen.errors import InputError
from xtalgen.hull.rates import METASTABLE_EHULL, STABLE_EHULL, is_metastable
from xtalgen.io import atomic_output

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.entries.computed_entries import ComputedStructureEntry

    from xtalgen.hull.reference import ReferenceHull

__all__ = ["STATES", "STATUS_COLUMNS", "collect", "dft_entry", "status_table", "summarize", "this_run"]

STATES = ("pending", "running", "failed", "completed")
STATUS_COLUMNS = [
    "candidate_id",
    "structure_sha",
    "maker",
    "key",
    "state",
    "error",
    "formula",
    "energy_per_atom",
    "correction_per_atom",
    "e_above_hull_dft",
    "stable",
    "metastable",
    "potcar_checked",
]

_FW_STATE = {
    "COMPLETED": "completed",
    "FIZZLED": "failed",
    "RUNNING": "running",
    "RESERVED": "running",
}


def _fireworks_states(pad: Any, key: str) -> tuple[str, str]:
    docs = list(pad.fireworks.find({"spec.xtalgen.key": key}, {"fw_id": 1, "state": 1, "launches": 1}))
    if not docs:
        return "pending", "not on the LaunchPad"
    states = [_FW_STATE.get(d["state"], "pending") for d in docs]
    if "failed" in states:
        failed = next(d for d in docs if d["state"] == "FIZZLED")
        return "failed", _fizzle_reason(pad, failed)
    if all(s == "completed" for s in states):
        return "completed", ""
    return ("running" if "running" in states or "completed" in states else "pending"), ""


def _fizzle_reason(pad: Any, doc: dict[str, Any]) -> str:
    launch = pad.launches.find_one({"fw_id": doc["fw_id"]}, sort=[("launch_id", -1)]) or {}
    stored = ((launch.get("action") or {}).get("stored_data") or {}).get("_exception") or {}
    trace = str(stored.get("_stacktrace") or "").strip().splitlines()
    return f"firework {doc['fw_id']}: {trace[-1] if trace else 'fizzled'}"


def status_table(state: Path) -> pd.DataFrame:
    """One row per submitted candidate: pending, running, failed (with the error) or completed."""
    config = StateConfig.load(state)
    ledger = Ledger.open(state)
    pad = launchpad(state, config.launchpad) if config.backend == "fireworks" else None
    rows = []
    for key, entry in ledger.entries.items():
        if pad is not None:
            current, error = _fireworks_states(pad, key)
        else:
            current = entry.get("state", "pending")
            error = entry.get("error", "")
            if current == "running" and ledger.interrupted(key):
                current, error = "failed", "interrupted: the local run's process ended; rerun submit"
        rows.append(
            {
                "candidate_id": entry.get("candidate_id", ""),
                "structure_sha": entry.get("structure_sha", ""),
                "maker": entry.get("maker", key.split("|")[1] if "|" in key else ""),
                "key": key,
                "state": current,
                "error": error,
            }
        )
    return pd.DataFrame(rows, columns=STATUS_COLUMNS[:6])


def dft_entry(output: dict[str, Any], candidate_id: str) -> ComputedStructureEntry:
    """A static TaskDoc (as stored) as an MP2020-corrected ComputedStructureEntry.

    POTCAR hashes are checked when the run recorded them; a run that kept only POTCAR titles
    (POTCAR.spec) is checked by run type and U values alone.
    """
    from pymatgen.core import Structure  # noqa: PLC0415
    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility  # noqa: PLC0415
    from pymatgen.entries.computed_entries import ComputedStructureEntry  # noqa: PLC0415

    decoded = MontyDecoder().process_decoded(output["entry"])
    structure = Structure.from_dict(output["structure"])
    entry = ComputedStructureEntry(
        structure,
        decoded.uncorrected_energy,
        parameters=decoded.parameters,
        data={"task_dir": output.get("dir_name"), "state": str(output.get("state"))},
        entry_id=candidate_id,
    )
    specs = entry.parameters.get("potcar_spec") or []
    checked = bool(specs) and all(spec.get("hash") for spec in specs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processed = MaterialsProject2020Compatibility(check_potcar=checked).process_entry(entry)
    if processed is None:
        run_type = entry.parameters.get("run_type")
        hint = (
            ": r2SCAN runs cannot be rated on the GGA/GGA+U hull; run MPGGADoubleRelaxStaticMaker"
            if "SCAN" in str(run_type).upper()
            else ""
        )
        raise InputError(
            f"{candidate_id}: MaterialsProject2020Compatibility rejects this calculation "
            f"(run type {run_type}, U {entry.parameters.get('hubbards')}){hint}"
        )
    processed.data["potcar_checked"] = checked
    return processed


def _rated(entry: ComputedStructureEntry, hull: ReferenceHull, ehull_max: float) -> dict[str, Any]:
    from xtalgen.hull.reference import e_above_hull  # noqa: PLC0415

    ehull = e_above_hull(hull, entry)
    return {
        "formula": entry.reduced_formula,
        "energy_per_atom": entry.uncorrected_energy_per_atom,
        "correction_per_atom": entry.correction_per_atom,
        "e_above_hull_dft": ehull,
        "stable": ehull < STABLE_EHULL,
        "metastable": bool(is_metastable(ehull, ehull_max)),
        "potcar_checked": entry.data["potcar_checked"],
    }


def _load_collected(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    return json.loads(path.read_text(), cls=MontyDecoder)


def collect(state: Path, hull: ReferenceHull, *, ehull_max: float = METASTABLE_EHULL) -> pd.DataFrame:
    """Status of every submission ever, with the energies and E_hull^DFT of every finished one.

    The entries are kept (``collected.json``) so that a lost store loses no result, and each is rated
    on ``hull`` anew every time: a new hull, or a new threshold, changes every E_hull^DFT.
    """
    config = StateConfig.load(state)
    table = status_table(state)
    collected_path = state / "collected.json"
    collected = _load_collected(collected_path)
    ledger = Ledger.open(state)
    store = job_store(state, config.store)
    store.connect()
    try:
        for row in table.itertuples():
            if row.key in collected:
                continue
            static_job = ledger.entries[row.key].get("static_job", "MP GGA static")
            doc = store.query_one({"metadata.xtalgen.key": row.key, "name": static_job}, load=True)
            if doc is None:
                continue
            try:
                entry = dft_entry(doc["output"], str(row.candidate_id))
                collected[row.key] = {"entry": entry, "error": ""}
            except (ValueError, KeyError) as err:
                collected[row.key] = {"entry": None, "error": f"collection: {err}"}
    finally:
        store.close()
    with atomic_output(collected_path) as tmp:
        tmp.write_text(
            json.dumps(
                {k: {"entry": v["entry"], "error": v["error"]} for k, v in collected.items()},
                cls=MontyEncoder,
            )
        )
    rows = []
    for current in table.to_dict("records"):
        found = collected.get(current["key"])
        update: dict[str, Any] = {}
        if found is not None and found["entry"] is not None:
            try:
                update = _rated(found["entry"], hull, ehull_max) | {"state": "completed", "error": ""}
            except ValueError as err:  # the hull lacks an element of this entry
                update = {"state": "failed", "error": f"rating: {err}"}
        elif found is not None:
            update = {"state": "failed", "error": found["error"]}
        rows.append(current | update)
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def this_run(
    table: pd.DataFrame, manifest: pd.DataFrame, tasks: dict[str, str] | None = None
) -> pd.DataFrame:
    """The rows of this run's candidates (its DFT manifest), joined to the submissions by key.

    One structure under two ids is one submission and two rows; a candidate prepared but never
    submitted is "not submitted"; submissions of earlier runs are left out.
    """
    prepared = manifest[manifest["status"] == "prepared"]
    own = ["candidate_id", "task", "source_id", "structure_sha", "key"]
    merged = prepared[[c for c in own if c in prepared.columns]].merge(
        table.drop(columns=["candidate_id", "structure_sha"]), on="key", how="left"
    )
    merged["state"] = merged["state"].fillna("not submitted")
    if tasks is not None and "task" in merged.columns:
        known = merged["candidate_id"].astype(str).map(tasks)
        merged["task"] = known.where(known.notna(), merged["task"])
    merged["task"] = (
        merged.get("task", pd.Series("", index=merged.index)).fillna("").replace("", "unconditional")
    )
    if "source_id" in merged.columns:
        merged["source_id"] = merged["source_id"].fillna("")
    carried = [c for c in ("task", "source_id") if c in merged.columns]
    return merged[[*carried, *[c for c in STATUS_COLUMNS if c in merged.columns]]]


def _counts(table: pd.DataFrame, n_samples: int | None) -> dict[str, Any]:
    rated = table[table["e_above_hull_dft"].notna()] if "e_above_hull_dft" in table else table.iloc[0:0]
    stable = int(rated["stable"].astype(bool).sum())
    out: dict[str, Any] = {
        "candidates": len(table),
        **{s: int((table["state"] == s).sum()) for s in (*STATES, "not submitted")},
        "dft_stable": stable,
        "dft_metastable": int(rated["metastable"].astype(bool).sum()),
        "dft_stable_fraction_of_completed": stable / len(rated) if len(rated) else None,
    }
    if n_samples:
        out["n_samples"] = n_samples
        out["dft_stable_rate"] = stable / n_samples
    return out


def summarize(
    table: pd.DataFrame,
    n_samples: int | None = None,
    *,
    by_task: dict[str, int] | None = None,
    ehull_max: float = METASTABLE_EHULL,
) -> dict[str, Any]:
    """Counts per state and the paper's DFT stable rate (stable / samples), overall and per task."""
    summary = {"ehull_max": ehull_max, **_counts(table, n_samples)}
    if by_task is not None and "task" in table.columns:
        summary["by_task"] = {
            task: _counts(table[table["task"] == task], n) for task, n in sorted(by_task.items())
        }
    summary["definitions"] = {
        "candidates": "this run's candidates (its DFT manifest), one per id",
        "dft_stable": "candidates with E_hull^DFT < 0 eV/atom on the run's hull",
        "dft_metastable": f"candidates with E_hull^DFT < ehull_max ({ehull_max:g} eV/atom)",
        "dft_stable_rate": "dft_stable / n_samples: every structure of the task handed to the "
        "prescreen, rated or not (the paper's footnote)",
        "dft_stable_fraction_of_completed": "dft_stable / candidates with an E_hull^DFT",
    }
    return summary
