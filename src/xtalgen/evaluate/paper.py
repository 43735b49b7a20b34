"""The paper's published numbers beside a run's metrics, each labelled as the paper's."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["METRICS", "PROTOCOL", "comparison_table", "paper_table"]

# Table 1's columns, in its order, as named in metrics.json; the paper rated every sample, so its
# metastable rate is over all samples, which m3gnet_metastable_rate_all gives for this run.
METRICS = (
    "structural_validity",
    "compositional_validity",
    "coverage_recall",
    "coverage_precision",
    "wdist_density",
    "wdist_num_elements",
    "m3gnet_metastable_rate",
    "m3gnet_metastable_rate_all",
    "dft_stable_rate",
)
# Where this run's protocol can differ from the paper's: one row each, after the metrics.
PROTOCOL = ("samples", "decoding", "hull", "metastable", "dft_stable")


def paper_table() -> dict[str, Any]:
    """The transcribed figures with their source (package data, so the citation travels with them)."""
    return json.loads(resources.files("xtalgen.evaluate").joinpath("data/paper_table1.json").read_text())


def _this_run_metastable(metrics: dict[str, Any]) -> str:
    rated, n = metrics.get("n_rated"), metrics.get("n_samples")
    if rated is None or n is None:
        return "not rated"
    whole = (
        "every valid sample has a verdict" if metrics.get("rated_all_valid") else "not every valid one rated"
    )
    failed = metrics.get("n_relax_failed", 0) + metrics.get("n_prefiltered", 0)
    return (
        f"M3GNet E_hull < {metrics.get('ehull_max', 0.1):g} eV/atom over the {rated} rated of {n} "
        f"unconditional samples ({failed} failed to relax or were pre-filtered, not metastable; {whole}); "
        "the table shows the rate over the rated, m3gnet_metastable_rate_all the rate over all"
    )


def protocol_of(metrics: dict[str, Any], run: dict[str, Any]) -> dict[str, str]:
    """A run's protocol in the paper's terms. ``run``: constraint, max_attempts, hull (its name)."""
    n_dft = metrics.get("dft_completed")
    return {
        "samples": f"{metrics.get('n_samples')} unconditional (of the Table 1 metrics)",
        "decoding": f"constraint {run.get('constraint', 'unknown')}, up to {run.get('max_attempts', '?')} "
        "draws per sample; validity over every requested sample",
        "hull": str(run.get("hull", "unknown")),
        "metastable": _this_run_metastable(metrics),
        "dft_stable": "no DFT in this run"
        if n_dft is None
        else f"M3GNet-metastable, then DFT E_hull < 0.0 eV/atom, over all unconditional samples "
        f"({n_dft} with DFT)",
    }


def comparison_table(metrics: dict[str, Any], run: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per Table 1 metric, then one per protocol item: this run, then each paper row."""
    paper = paper_table()
    names = list(METRICS)
    this = [metrics.get(m) for m in METRICS]
    columns: dict[str, list[Any]] = {
        name: [values.get(m) for m in METRICS] for name, values in paper["rows"].items()
    }
    if run is not None:
        ours = protocol_of(metrics, run)
        names += [f"protocol: {p}" for p in PROTOCOL]
        this += [ours[p] for p in PROTOCOL]
        for name in columns:  # the paper's protocol is one for all its rows; say it once
            columns[name] += [
                paper["protocol"][p] if name.startswith("paper: LLaMA") else None for p in PROTOCOL
            ]
    table = pd.DataFrame({"metric": names, "this run": this})
    for name, values in columns.items():
        table[name] = values
    return table
