"""Evaluation metrics on hand-made structures with known answers, and on the MP-20 pilot splits."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from matminer.featurizers.site.fingerprint import CrystalNNFingerprint
from pymatgen.core import Composition, Lattice, Structure

from xtalgen.evaluate.fingerprints import (
    Fingerprints,
    composition_scaler,
    fingerprint_cifs,
    mean_site_fingerprint,
)
from xtalgen.evaluate.metrics import (
    Sample,
    conditional_accuracy,
    coverage,
    diversity,
    novel_mask,
    unique_mask,
    wasserstein,
)
from xtalgen.evaluate.paper import METRICS, comparison_table, paper_table
from xtalgen.evaluate.stage import read_samples
from xtalgen.evaluate.validity import composition_valid, structure_valid
from xtalgen.testing import mp20_pilot_dir


def rocksalt(a: float = 5.64, species=("Na", "Cl")) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_structural_validity_uses_cdvae_thresholds():
    assert structure_valid(rocksalt())
    assert not structure_valid(Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.1, 0, 0]]))
    assert not structure_valid(Structure(Lattice.cubic(0.4), ["Na"], [[0, 0, 0]]))  # 0.064 Å^3


@pytest.mark.parametrize(
    ("formula", "valid"),
    [
        ("NaCl", True),  # charge balanced
        ("NaCl2", False),  # no neutral assignment
        ("Fe3Al", True),  # all metals: an alloy
        ("Si", True),  # a single element
        ("Na2Cl2", True),  # counts reduced by their gcd
        ("LiO3", False),
    ],
)
def test_compositional_validity_with_smact(formula, valid):
    assert composition_valid(Composition(formula)) is valid


def test_coverage_counts_matches_within_both_cutoffs():
    ref = Fingerprints(np.zeros((2, 61)), np.zeros((2, 132)))
    ref.structure[1] += 5.0  # far from every sample
    samples = Fingerprints(np.zeros((3, 61)), np.zeros((3, 132)))
    samples.composition[1] += 2.0  # |d| = 2 * sqrt(132) ~ 23 > 10: not covered
    samples.structure[2] = np.nan  # not fingerprinted
    result = coverage(samples, np.array([True, True, False]), ref, n_generated=4)
    assert result["coverage_recall"] == 0.5  # the first reference only
    assert result["coverage_precision"] == 0.25  # CDVAE: 1 close sample of 4 generated
    assert result["coverage_precision_valid"] == 0.5  # 1 of the 2 valid samples


def test_wasserstein_and_diversity_known_values():
    assert wasserstein([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert wasserstein([1.0], [3.0]) == 2.0
    assert diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == 5.0
    assert diversity(np.array([[0.0, 0.0]])) is None


def test_novelty_and_uniqueness_by_structure_matcher():
    nacl, expanded, kcl = rocksalt(), rocksalt(5.70), rocksalt(6.3, ("K", "Cl"))
    assert list(novel_mask([nacl, kcl], [expanded])) == [False, True]  # a 1% strain still matches
    assert list(unique_mask([nacl, expanded, kcl])) == [True, False, True]


def test_conditional_accuracy_formula_and_spacegroup():
    nacl = rocksalt()
    samples = [
        Sample("a", nacl, "conditional", conditions={"formula": "NaCl", "spacegroup": 225}),
        Sample("b", nacl, "conditional", conditions={"formula": "KCl", "spacegroup": 221}),
        Sample("c", None, "conditional", conditions={"formula": "NaCl"}),
    ]
    result = conditional_accuracy(samples)
    assert result["formula_accuracy"] == pytest.approx(1 / 3)
    assert result["spacegroup_accuracy"] == 0.5


def test_fingerprints_scale_compositions_with_cdvae_constants():
    means, stds = composition_scaler()
    assert means.shape == stds.shape == (132,)
    fp = fingerprint_cifs([rocksalt().to(fmt="cif"), "not a cif"], workers=1)
    assert fp.ok.tolist() == [True, False]
    assert np.isfinite(fp.structure[0]).all()
    assert fp.structure.shape == (2, 61)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_cached_fingerprint_entry_cut_mid_write_is_rebuilt(seed, tmp_path, caplog):
    import random  # noqa: PLC0415

    from xtalgen.evaluate.fingerprints import load_or_fingerprint  # noqa: PLC0415

    cifs = [rocksalt().to(fmt="cif"), rocksalt(4.1, ("Cs", "Cl")).to(fmt="cif")]
    first = load_or_fingerprint(cifs, tmp_path, 1, "test")
    (entry,) = tmp_path.glob("fingerprints-*.npz")
    whole = entry.read_bytes()
    entry.write_bytes(whole[: random.Random(seed).randrange(1, len(whole))])  # a crash mid-write
    again = load_or_fingerprint(cifs, tmp_path, 1, "test")
    assert "cache entry unusable" in caplog.text
    np.testing.assert_array_equal(again.structure, first.structure)
    np.testing.assert_array_equal(again.composition, first.composition)
    caplog.clear()
    load_or_fingerprint(cifs, tmp_path, 1, "test")
    assert "unusable" not in caplog.text  # rebuilt whole: the next run reads it


def test_orbit_weighted_fingerprint_equals_the_mean_over_every_site():
    """One site per symmetry orbit, weighted by multiplicity, must give CDVAE's all-site mean."""
    site_fp = CrystalNNFingerprint.from_preset("ops")
    table = pd.read_csv(mp20_pilot_dir() / "test.csv.gz").head(6)
    structures = [Structure.from_str(cif, fmt="cif") for cif in table["cif"]]
    # a low-symmetry cell: one orbit per site, and a cell spglib refuses (two atoms 0.01 Å apart)
    distorted = rocksalt().copy()
    distorted.perturb(0.05, min_distance=0.02)
    structures += [distorted, Structure(Lattice.cubic(4.0), ["Na", "Na"], [[0, 0, 0], [0.0025, 0, 0]])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for structure in structures:
            every_site = np.mean([site_fp.featurize(structure, i) for i in range(len(structure))], axis=0)
            np.testing.assert_allclose(mean_site_fingerprint(structure, site_fp), every_site, atol=2e-3)


def test_samples_table_keeps_the_final_attempt_and_the_failures(tmp_path):
    nacl = rocksalt().to(fmt="cif")
    table = pd.DataFrame(
        {
            "id": ["u-0", "u-0", "u-1", "u-1"],
            "attempt": [1, 2, 1, 2],
            "task": ["unconditional"] * 4,
            "status": ["rejected", "ok", "rejected", "rejected"],
            "reason": ["bad", "", "bad line", "worse line"],
            "cif": ["", nacl, "", ""],
            "conditions": [""] * 4,
        }
    )
    path = tmp_path / "samples.csv"
    table.to_csv(path, index=False)
    samples = {s.id: s for s in read_samples(path)}
    assert samples["u-0"].structure is not None
    assert samples["u-1"].structure is None
    assert samples["u-1"].reason == "worse line"


@pytest.fixture(scope="module")
def pilot_metrics(tmp_path_factory, pilot_dir):
    tmp = tmp_path_factory.mktemp("evaluate")
    test = pd.read_csv(pilot_dir / "test.csv.gz")
    train = pd.read_csv(pilot_dir / "train.csv.gz")
    test.head(100).to_csv(tmp / "samples.csv", index=False)
    train.head(400).to_csv(tmp / "reference.csv", index=False)
    train.tail(300).to_csv(tmp / "known.csv", index=False)
    out = tmp / "metrics.json"
    cmd = [
        sys.executable, "-m", "xtalgen.cli", "evaluate", "metrics", "--samples", str(tmp / "samples.csv"),
        "--train", str(tmp / "known.csv"), "--test", str(tmp / "reference.csv"),
        "--out", str(out), "--cache-dir", str(tmp / "cache"), "--workers", "2",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return json.loads(out.read_text()), tmp


def test_pilot_test_split_behaves_as_the_papers_train_row(pilot_metrics):
    metrics, tmp = pilot_metrics
    for key in (
        "structural_validity", "compositional_validity", "coverage_recall", "coverage_precision",
        "wdist_density", "wdist_num_elements", "diversity_structure", "diversity_composition",
        "novelty", "n_samples",
    ):  # fmt: skip
        assert key in metrics
    assert metrics["n_samples"] == 100
    assert metrics["structural_validity"] == 1.0
    assert 0.85 <= metrics["compositional_validity"] <= 0.97  # the paper's Train row: 0.91
    assert metrics["coverage_precision"] >= 0.85  # small sets: 100 samples, 400 references
    assert metrics["coverage_recall"] >= 0.6
    assert metrics["novelty"] == 1.0  # test and train splits share no structure
    assert metrics["novelty_fingerprint"] >= 0.5  # the paper's definition: close neighbours are not novel
    assert "known.csv (300 structures)" in metrics["novelty_reference"]
    assert len(list((tmp / "cache").glob("fingerprints-*.npz"))) == 2  # test and known sets are cached


def test_paper_figures_sit_beside_a_runs_metrics_with_their_source():
    paper = paper_table()
    assert "arXiv:2402.04379" in paper["source"]
    assert "Table 1" in paper["source"]
    table = comparison_table({"structural_validity": 0.5, "m3gnet_metastable_rate": 0.2}).set_index("metric")
    assert list(table.index) == list(METRICS)
    assert table.loc["structural_validity", "this run"] == 0.5
    assert table.loc["m3gnet_metastable_rate", "paper: LLaMA-2 70B, T=0.7"] == 0.498
    assert table.loc["m3gnet_metastable_rate", "paper: CDVAE"] == 0.288
    assert all(name.startswith("paper: ") for name in paper["rows"])


def test_paper_table_holds_every_table_1_row_of_the_reference():
    """Each Table 1 row of the shared reference is in the package data, cell for cell."""
    from xtalgen.testing import shared_data_dir  # noqa: PLC0415

    reference = shared_data_dir().parent / "reference" / "gruver2024.md"
    if not reference.is_file():
        pytest.skip(f"{reference} is not here")
    text = reference.read_text()
    section = text[text.index("## Table 1") : text.index("The MP-20 training data")]
    rows = [
        line.strip("|").split("|")
        for line in section.splitlines()
        if line.startswith("| ") and "method" not in line
    ]
    paper = paper_table()["rows"]
    assert len(rows) == 9
    for cells in rows:
        name, *values = (c.strip() for c in cells)
        row = paper[f"paper: {name}"]
        for metric, value in zip(METRICS[:6], values[:6], strict=True):
            assert row[metric] == pytest.approx(float(value)), (name, metric)
        for metric, value in zip(("m3gnet_metastable_rate", "dft_stable_rate"), values[6:], strict=True):
            expected = None if value == "n/a" else float(value.rstrip("%")) / 100
            assert row.get(metric) == (pytest.approx(expected) if expected is not None else None), (
                name,
                metric,
            )
