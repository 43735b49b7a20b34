"""Prescreen tests with the real pretrained M3GNet-MP-2021.2.8-PES potential."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from xtalgen.hull.reference import HullError, e_above_hull, elemental_references, load_hull
from xtalgen.prescreen.gate import ModelAccuracyError, check_accuracy, measure_errors
from xtalgen.prescreen.potential import PotentialUnavailableError, load_potential
from xtalgen.prescreen.prefilter import prefilter_reason
from xtalgen.prescreen.shard import PrescreenSettings, prescreen, select_metastable
from xtalgen.prescreen.stage import build_hull_file, dataset_tables
from xtalgen.testing import shared_data_dir

MODEL = "M3GNet-MP-2021.2.8-PES"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    return shared_data_dir() / "matgl_models" / MODEL


@pytest.fixture(scope="session")
def elemental_refs() -> Path:
    return shared_data_dir() / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"


@pytest.fixture(scope="session")
def hull_file(tmp_path_factory, pilot_dir, elemental_refs) -> Path:
    out = tmp_path_factory.mktemp("hull") / "hull.json.gz"
    build_hull_file(out, dataset=[pilot_dir], elemental_refs=elemental_refs)
    return out


@pytest.fixture(scope="session")
def ground_states(pilot_dir) -> pd.DataFrame:
    table = pd.concat(dataset_tables([pilot_dir / "test.csv.gz"]), ignore_index=True)
    return table[table["e_above_hull"] == 0].sample(10, random_state=1)


def test_accuracy_gate_passes_the_model_as_trained(pilot_dir, elemental_refs, model_dir):
    refs = elemental_references(elemental_refs)
    table = pd.concat(dataset_tables([pilot_dir / "train.csv.gz"]), ignore_index=True)
    loaded = load_potential(model_dir)
    assert loaded.aggregation == "destination"
    errors = measure_errors(table, refs, loaded.potential, size=20)
    assert check_accuracy(errors, 0.05) < 0.05


def test_accuracy_gate_stops_the_silently_wrong_convention(pilot_dir, elemental_refs, model_dir):
    refs = elemental_references(elemental_refs)
    table = pd.concat(dataset_tables([pilot_dir / "train.csv.gz"]), ignore_index=True)
    wrong = load_potential(model_dir, "source")
    errors = measure_errors(table, refs, wrong.potential, size=20)
    with pytest.raises(ModelAccuracyError, match=r"prescreen\.max_model_error"):
        check_accuracy(errors, 0.05)


def test_offline_model_name_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(PotentialUnavailableError, match=r"prescreen\.model"):
        load_potential("M3GNet-MP-2021.2.8-PES")
    assert time.perf_counter() - start < 5


def test_ground_states_relax_onto_the_hull(ground_states, hull_file, model_dir, tmp_path):
    inputs = [
        (i, Structure.from_str(c, fmt="cif"), None)
        for i, c in zip(ground_states["id"], ground_states["cif"], strict=True)
    ]
    settings = PrescreenSettings(model=str(model_dir), workers=2)
    table = prescreen(inputs, hull_file, tmp_path / "r.csv", tmp_path / "j.jsonl", settings)
    ok = table[table["status"] == "ok"]
    near = np.abs(ok["e_above_hull"]) <= 0.05
    assert near.sum() >= 7, table[["id", "formula", "status", "reason", "e_above_hull"]]
    assert (ok["converged"]).all()
    assert set(pd.read_csv(tmp_path / "r.csv")["id"]) == set(ground_states["id"])


def test_bad_structures_are_skipped_with_reasons(hull_file, model_dir, tmp_path):
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    single = Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])
    inputs = [("overlap", overlap, None), ("single", single, None), ("garbage", None, "bad CIF")]
    settings = PrescreenSettings(model=str(model_dir))
    table = prescreen(inputs, hull_file, tmp_path / "r.csv", tmp_path / "j.jsonl", settings)
    reasons = dict(zip(table["id"], table["reason"], strict=True))
    assert set(table["status"]) == {"skipped"}
    assert "closer than 0.5" in reasons["overlap"]
    assert "fewer than the minimum of 2" in reasons["single"]
    assert reasons["garbage"] == "bad CIF"


def test_prefilter_limits():
    s = Structure(Lattice.cubic(5.0), ["Na", "Cl", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])
    assert prefilter_reason(s) is None
    assert "more than the maximum of 2" in prefilter_reason(s, max_sites=2)


def test_element_missing_from_hull_is_a_reason(hull_file):
    hull = load_hull(hull_file)
    with pytest.raises(HullError, match="the hull has no"):
        e_above_hull(hull, ComputedEntry("Og2", -1.0))


def test_killed_shard_resumes_without_recomputing(ground_states, hull_file, model_dir, tmp_path):
    structures = tmp_path / "s.csv"
    ground_states.head(5)[["id", "cif"]].to_csv(structures, index=False)
    out = tmp_path / "r.csv"
    journal = tmp_path / "r.csv.journal.jsonl"
    cmd = [
        sys.executable, "-m", "xtalgen.cli", "prescreen", "run", "--structures", str(structures),
        "--hull", str(hull_file), "--model", str(model_dir), "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 2:
            break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    first = [json.loads(x)["id"] for x in journal.read_text().splitlines()]
    assert 2 <= len(first) < 5, "the shard finished before it could be killed"
    assert not out.exists()
    # A crash in the middle of a write: the last record is cut at a random byte.
    text = journal.read_bytes()
    start = text.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(text[: random.Random(0).randrange(start + 1, len(text) - 1)])
    first = first[:-1]

    def whole(lines: list[str]) -> list[str]:
        out = []
        for line in lines:
            try:
                out.append(json.loads(line)["id"])
            except json.JSONDecodeError:
                continue
        return out

    subprocess.run(cmd, check=True, capture_output=True)
    lines = journal.read_text().splitlines()
    ids = whole(lines)
    assert ids[: len(first)] == first
    assert len(ids) == 5  # the first run's whole records were reused, the cut one relaxed again
    assert len(set(ids)) == 5
    assert len(lines) == 6  # the cut line stays apart from the record appended after it
    assert set(pd.read_csv(out)["id"]) == set(ground_states.head(5)["id"])
    subprocess.run(cmd, check=True, capture_output=True)  # a third run relaxes nothing
    assert journal.read_text().splitlines() == lines


def test_threshold_selection():
    table = pd.DataFrame(
        {"id": list("abcd"), "status": ["ok", "ok", "failed", "ok"], "e_above_hull": [0.2, -0.01, None, 0.09]}
    )
    assert list(select_metastable(table, 0.1)["id"]) == ["b", "d"]
    assert list(select_metastable(table, 0.0)["id"]) == ["b"]
    # One comparison everywhere, the paper's: strictly below the threshold.
    assert list(select_metastable(table, 0.09)["id"]) == ["b"]
    # An unconverged relaxation is rated but not selected, unless asked for.
    table["converged"] = [True, True, None, False]
    assert list(select_metastable(table, 0.1)["id"]) == ["b"]
    assert list(select_metastable(table, 0.1, keep_unconverged=True)["id"]) == ["b", "d"]


def test_converged_means_fire_reached_fmax(model_dir):
    """From the forces, not the step count: one step leaves a strained cell unconverged."""
    from xtalgen.prescreen.relax import RelaxSettings, relax  # noqa: PLC0415

    potential = load_potential(str(model_dir)).potential
    strained = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.9), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    strained.translate_sites([0], [0.03, 0.01, 0.0])  # off its site, in a stretched cell
    short = relax(strained, potential, RelaxSettings(steps=1))
    assert not short.converged and short.max_force > 0.1
    done = relax(strained, potential, RelaxSettings(steps=500))
    assert done.converged and done.max_force <= 0.1
    # Converging on the last allowed step is converging: the step limit decides nothing.
    exact = relax(strained, potential, RelaxSettings(steps=done.n_steps + 1))
    assert exact.converged


def test_cli_limits_the_work_as_the_workflow_does(hull_file, model_dir, tmp_path, capsys):
    """`prescreen run` skips cells above 20 sites by default and rates only --max-structures."""
    from xtalgen.cli import main  # noqa: PLC0415

    small = Structure(Lattice.cubic(4.0), ["Na", "Na"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    big = small * (3, 2, 2)  # 24 sites
    table = pd.DataFrame(
        {
            "id": ["big", "small", "never"],
            "cif": [big.to(fmt="cif"), small.to(fmt="cif"), small.to(fmt="cif")],
        }
    )
    table.to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "results.csv"
    argv = ["prescreen", "run", "--structures", str(tmp_path / "in.csv"), "--hull", str(hull_file)]
    argv += ["--model", str(model_dir), "--out", str(out), "--workers", "1", "--max-structures", "2"]
    assert main(argv) == 0
    results = pd.read_csv(out).set_index("id")
    assert list(results.index) == ["big", "small"]
    assert results.loc["big", "status"] == "skipped"
    assert "more than the maximum of 20" in results.loc["big", "reason"]
    assert results.loc["small", "status"] == "ok"
    assert "2 structures" in capsys.readouterr().out
