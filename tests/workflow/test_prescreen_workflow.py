"""The prescreen stage through Snakemake, with the real pretrained M3GNet potential."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

pytestmark = pytest.mark.workflow


@pytest.fixture
def candidates(tmp_path, pilot_dir):
    table = pd.read_csv(pilot_dir / "test.csv.gz")
    ground = table[table["e_above_hull"] == 0].head(3)
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    rows = [*zip(ground["material_id"], ground["cif"], strict=True)]
    rows += [("garbage", "data_x\nthis is not a CIF"), ("overlap", overlap.to(fmt="cif"))]
    path = tmp_path / "candidates.csv"
    pd.DataFrame(rows, columns=["id", "cif"]).to_csv(path, index=False)
    return path


def _ran(result) -> set[str]:
    text = result.stdout + result.stderr
    rules = ("prescreen_shard", "build_hull", "validate_potential", "select_metastable", "rate_prescreen")
    return {r for r in rules if f"rule {r}:" in text}


# The prescreen's own last output: each run stops there, not at the evaluation and the report.
SELECTED = "results/prescreen/summary.json"


def test_prescreen_stage_reruns_only_what_changed(workflow, candidates, pilot_dir):
    overrides = {"prescreen": {"structures": str(candidates), "max_structures": None}}
    wf = workflow(overrides)
    wf.run(SELECTED, "results/prescreen/model_check.png")
    out = wf.workdir / "results" / "prescreen"
    results = pd.read_csv(out / "results.csv").set_index("id")
    assert len(results) == 5
    assert "unparseable CIF" in results.loc["garbage", "reason"]
    assert "closer than 0.5" in results.loc["overlap", "reason"]
    assert (results["status"] == "ok").sum() >= 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["structures"] == 5
    assert summary["status"]["skipped"] == 2
    gate = json.loads((out / "model_check.json").read_text())
    assert gate["passed"]
    assert gate["aggregation"] == "destination"
    assert gate["median_abs_error"] < 0.05
    assert (out / "model_check.png").stat().st_size > 0

    # A new threshold reruns the selection alone, never a relaxation.
    shard_results = sorted((out / "shards").glob("*.relaxed.csv"))
    stamps = [p.stat().st_mtime_ns for p in shard_results]
    strict = workflow({"prescreen": {**overrides["prescreen"], "ehull_max": -1.0}})
    assert _ran(strict.run(SELECTED)) == {"select_metastable"}
    assert [p.stat().st_mtime_ns for p in shard_results] == stamps
    assert json.loads((out / "summary.json").read_text())["selected"] == 0

    # A changed hull rebuilds it and re-rates every structure; it never relaxes one again.
    smaller = workflow({**overrides, "hull": {"dataset": [str(pilot_dir)]}})
    ran = _ran(smaller.run(SELECTED))
    assert ran == {"build_hull", "rate_prescreen", "select_metastable"}, ran
    assert [p.stat().st_mtime_ns for p in shard_results] == stamps
    info = json.loads((out / "hull.json").read_text())
    assert info["sources"] == [str(pilot_dir)] and info["entries"] < 3_200
    rated = pd.read_csv(out / "results.csv")
    assert {"hull_compounds", "flag"} <= set(rated.columns)

    # Rerun shards (as after a crash or timeout) are served from their journals, not relaxed again.
    journals = sorted((out / "journal").glob("*.jsonl"))
    lines = [p.read_text().count("\n") for p in journals]
    assert sum(lines) == 5
    assert "prescreen_shard" in _ran(strict.run(SELECTED, "--forcerun", "prescreen_shard"))
    assert [p.read_text().count("\n") for p in journals] == lines
    log = (wf.workdir / "results" / "logs" / "prescreen" / "shard_1-of-2.log").read_text()
    assert "3 of 3 structures already in" in log


def test_inaccurate_potential_stops_the_run_before_relaxing(workflow, candidates):
    wf = workflow({"prescreen": {"aggregation": "source", "structures": str(candidates)}})
    result = wf.run(check=False)
    assert result.returncode != 0
    log = (wf.workdir / "results" / "logs" / "prescreen" / "validate_potential.log").read_text()
    assert "prescreen.max_model_error" in log
    assert not list((wf.workdir / "results" / "prescreen").glob("shards/*.relaxed.csv"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hull": {"reference": "entries"}}, "config key hull.entries"),
        ({"prescreen": {"model": "/no/such/model"}}, "config key prescreen.model"),
        ({"prescreen": {"structures": "/no/such.csv"}}, "config key prescreen.structures"),
        ({"prescreen": {"shards": 0}}, "config key prescreen.shards"),
    ],
)
def test_bad_prescreen_settings_are_named(workflow, overrides, message):
    result = workflow(overrides).run("-n", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
