from __future__ import annotations

import json
import re

import pandas as pd
import pytest

pytestmark = pytest.mark.workflow


def test_data_stage_runs_through_snakemake(workflow):
    wf = workflow()
    wf.run("--until", "prepare_data")
    results = wf.workdir / "results"
    for split in ("train", "val", "test"):
        summary = json.loads((results / "data" / split / "summary.json").read_text())
        assert summary["structures"] == 60
        assert (results / "logs" / "data" / f"prepare_{split}.log").exists()
        bench = pd.read_csv(results / "benchmarks" / "data" / f"prepare_{split}.tsv", sep="\t")
        assert bench["s"].iloc[0] > 0
    # Nothing is stale after a complete run.
    again = wf.run("-n", "--until", "prepare_data")
    assert re.search(r"^total\s+0$", again.stdout + again.stderr, re.MULTILINE)


def test_changed_seed_reruns_the_data_stage(workflow):
    wf = workflow()
    wf.run("--until", "prepare_data")
    changed = workflow({"data": {"seed": 3}})
    out = changed.run("-n", "--rerun-triggers", "params")
    assert "prepare_data" in out.stdout


def test_bad_config_key_is_named(workflow):
    wf = workflow({"data": {"augment": {"copis": 2}}})
    result = wf.run("-n", check=False)
    assert result.returncode != 0
    assert "config key data.augment: unknown key(s) copis" in result.stdout + result.stderr


def test_missing_local_folder_is_named(workflow, tmp_path):
    wf = workflow({"data": {"local_dir": str(tmp_path / "absent")}})
    result = wf.run("-n", check=False)
    assert result.returncode != 0
    assert "config key data.local_dir" in result.stdout + result.stderr


def test_offline_without_local_copy_fails_at_once(workflow):
    wf = workflow({"data": {"local_dir": None, "cache_dir": "cache"}})
    result = wf.run(check=False)
    assert result.returncode != 0
    logs = "".join(p.read_text() for p in (wf.workdir / "results" / "logs").rglob("*.log"))
    assert "data.local_dir" in logs
