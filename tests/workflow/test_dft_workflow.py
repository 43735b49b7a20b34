"""The DFT stage through Snakemake: prepare and submit to FireWorks, run workers, collect.

VASP is atomate2's fake (a test double for a licensed code that cannot run here), driven by FireWorks'
real rlaunch; Snakemake, atomate2, jobflow, FireWorks (mongomock file backend) and M3GNet are real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Structure

from xtalgen.testing import atomate2_vasp_reference, shared_data_dir

pytestmark = pytest.mark.workflow

TESTS = Path(__file__).resolve().parents[1]


def test_fireworks_submission_and_collection(workflow, tmp_path):
    si = Structure.from_file(atomate2_vasp_reference() / "Si_mp_gga_relax/GGA_Relax_1/inputs/POSCAR.gz")
    candidates = tmp_path / "si.csv"
    pd.DataFrame({"id": ["si-1"], "cif": [si.to(fmt="cif")]}).to_csv(candidates, index=False)
    wf = workflow(
        {"prescreen": {"structures": str(candidates), "shards": 1}, "dft": {"backend": "fireworks"}}
    )
    results = wf.workdir / "results"
    wf.run("results/dft/submitted.csv")
    manifest = pd.read_csv(results / "dft" / "manifest.csv")
    assert list(manifest["candidate_id"]) == ["si-1"]
    folder = results / "dft" / "prepared" / manifest.loc[0, "folder"]
    assert (folder / "inputs" / "POTCAR.spec").read_text().split() == ["Si"]

    state = results / "dft" / "state"
    env = {
        **os.environ,
        "MONGOMOCK_SERVERSTORE_FILE": str(state / "launchpad.json"),
        "XTALGEN_SHARED_DATA": str(shared_data_dir()),
    }
    launches = tmp_path / "launches"
    launches.mkdir()
    rlaunch = [
        sys.executable,
        str(TESTS / "dft" / "fake_vasp_rlaunch.py"),
        "-l",
        str(state / "my_launchpad.yaml"),
    ]
    done = subprocess.run(
        [*rlaunch, "rapidfire"], cwd=launches, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

    wf.run("results/dft/results.csv")
    table = pd.read_csv(results / "dft" / "results.csv")
    assert table.loc[0, "state"] == "completed"
    assert abs(table.loc[0, "e_above_hull_dft"]) < 0.02
    summary = json.loads((results / "dft" / "summary.json").read_text())
    assert summary["completed"] == 1 and summary["n_samples"] == 1
    assert (results / "dft" / "e_above_hull_dft.png").stat().st_size > 0

    # Brought-in structures: the whole DAG runs without the language-model half, and the
    # evaluation carries the DFT stable rate.
    everything = wf.run()
    text = everything.stdout + everything.stderr
    for rule in ("train_tokenizer", "pretrain_tiny", "finetune", "sample_shard"):
        assert f"rule {rule}:" not in text
    metrics = json.loads((results / "evaluate" / "metrics.json").read_text())
    assert metrics["n_samples"] == 1
    assert metrics["dft_completed"] == 1
    assert metrics["dft_stable_rate"] == 0.0  # Si lies just above the hull: metastable, not stable

    # Forcing the submit step again adds nothing to the LaunchPad.
    wf.run("--forcerun", "dft_submit", "--", "results/dft/submitted.csv")
    assert set(pd.read_csv(results / "dft" / "submitted.csv")["action"]) == {"already submitted"}
