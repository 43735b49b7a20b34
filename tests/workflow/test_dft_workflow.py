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


def test_a_rerun_with_new_structures_under_old_ids_through_snakemake(workflow, tmp_path):
    """The partial rerun users make, with the ``local`` backend: same ids, other structures.

    VASP is atomate2's fake (tests/dft/fake_vasp_site), entered only in the ``dft_submit`` job; the
    prescreen (M3GNet), Snakemake, atomate2, jobflow and the job store are real.
    """
    si = Structure.from_file(atomate2_vasp_reference() / "Si_mp_gga_relax/GGA_Relax_1/inputs/POSCAR.gz")
    candidates = tmp_path / "si.csv"
    rows = {"id": ["u-3"], "task": ["unconditional"], "cif": [si.to(fmt="cif")]}
    pd.DataFrame(rows).to_csv(candidates, index=False)
    wf = workflow({"prescreen": {"structures": str(candidates), "shards": 1}, "dft": {"backend": "local"}})
    env = {
        "PYTHONPATH": os.pathsep.join(
            [str(TESTS / "dft" / "fake_vasp_site"), os.environ.get("PYTHONPATH", "")]
        )
    }
    results = wf.workdir / "results"
    wf.run("results/dft/results.csv", "results/evaluate/metrics.json", env=env)
    first = pd.read_csv(results / "dft" / "results.csv", dtype=str).set_index("candidate_id")
    assert first.loc["u-3", "state"] == "completed"

    # The next run samples another crystal as u-3, and the first run's crystal comes back as u-9.
    strained = si.copy()
    strained.apply_strain([0.03, 0.0, -0.02])
    rows = {
        "id": ["u-3", "u-9"],
        "task": ["unconditional"] * 2,
        "cif": [strained.to(fmt="cif"), si.to(fmt="cif")],
    }
    pd.DataFrame(rows).to_csv(candidates, index=False)
    rerun = wf.run("results/dft/results.csv", "results/evaluate/metrics.json", env=env)
    text = rerun.stdout + rerun.stderr
    assert "rule prescreen_shard:" in text and "rule dft_submit:" in text  # the changed input made them stale

    second = pd.read_csv(results / "dft" / "results.csv", dtype=str).set_index("candidate_id")
    actions = pd.read_csv(results / "dft" / "submitted.csv", dtype=str).set_index("candidate_id")["action"]
    # The old crystal is not computed again, whatever its id now; the new u-3 is computed for itself.
    assert actions["u-9"] == "already submitted"
    assert actions["u-3"].startswith("ran locally")
    assert second.loc["u-9", "key"] == first.loc["u-3", "key"]
    assert second.loc["u-3", "key"] != first.loc["u-3", "key"]
    assert second.loc["u-3", "structure_sha"] != first.loc["u-3", "structure_sha"]
    assert second.loc["u-9", "energy_per_atom"] == first.loc["u-3", "energy_per_atom"]
    summary = json.loads((results / "dft" / "summary.json").read_text())
    assert summary["candidates"] == 2  # this run's, not every submission ever
    # The evaluation joins each DFT result to its own structure.
    metrics = json.loads((results / "evaluate" / "metrics.json").read_text())
    assert metrics["n_samples"] == 2 and metrics["dft_completed"] == 2
