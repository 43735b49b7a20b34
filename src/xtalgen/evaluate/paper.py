"""The paper's published numbers beside a run's metrics, each labelled as the paper's."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["METRICS", "comparison_table", "paper_table"]

# Table 1's columns, in its order, as named in metrics.json.
METRICS = (
    "structural_validity",
    "compositional_validity",
    "coverage_recall",
    "coverage_precision",
    "wdist_density",
    "wdist_num_elements",
    "m3gnet_metastable_rate",
    "dft_stable_rate",
)


def paper_table() -> dict[str, Any]:
    """The transcribed figures with their source (package data, so the citation travels with them)."""
    return json.loads(resources.files("xtalgen.evaluate").joinpath("data/paper_table1.json").read_text())


def comparison_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per Table 1 metric: this run, then each paper row (empty where the paper is silent)."""
    paper = paper_table()
    table = pd.DataFrame({"metric": list(METRICS), "this run": [metrics.get(m) for m in METRICS]})
    for name, values in paper["rows"].items():
        table[name] = [values.get(m) for m in METRICS]
    return table
