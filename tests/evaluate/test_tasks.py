"""Metrics per task, with known answers: denominators, novelty both ways, conditions, infill, S.U.N."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from xtalgen.errors import InputError
from xtalgen.evaluate.metrics import Sample, conditional_accuracy, conditional_outcomes, infill_outcomes
from xtalgen.evaluate.paper import PROTOCOL, comparison_table
from xtalgen.evaluate.stage import evaluate_files, known_set, read_samples
from xtalgen.hull.rates import stability_rates
from xtalgen.prescreen.stage import select_files, split_structures
from xtalgen.structures_io import parse_cif, structure_sha


def rocksalt(a: float, species=("Na", "Cl")) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


def cscl(a: float, species=("Cs", "Cl")) -> Structure:
    return Structure(Lattice.cubic(a), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def splits(tmp_path_factory, pilot_dir):
    """Small known and test sets from the pilot splits (known: 40 train + 20 val; test: 30)."""
    tmp = tmp_path_factory.mktemp("splits")
    paths = {"cache": tmp / "cache"}  # reference fingerprints, computed once for the module
    for split, n in (("train", 40), ("val", 20), ("test", 30)):
        table = pd.read_csv(pilot_dir / f"{split}.csv.gz").head(n)
        paths[split] = tmp / f"{split}.csv"
        table.to_csv(paths[split], index=False)
    return paths


def _samples_csv(path, rows):
    columns = [
        "id",
        "attempt",
        "task",
        "status",
        "reason",
        "cif",
        "conditions",
        "masked_element",
        "proposed_element",
    ]
    table = pd.DataFrame([{c: row.get(c, "") for c in columns} | {"attempt": 1} for row in rows])
    table.to_csv(path, index=False)
    return path


def test_training_structures_are_novel_by_neither_definition(splits, tmp_path):
    train = pd.read_csv(splits["train"]).head(6)
    samples = tmp_path / "samples.csv"
    train[["material_id", "cif"]].to_csv(samples, index=False)
    metrics = evaluate_files(
        samples,
        [splits["train"], splits["val"]],
        splits["test"],
        tmp_path / "m.json",
        workers=1,
        cache_dir=splits["cache"],
    )
    assert metrics["novelty"] == 0.0
    assert metrics["novelty_fingerprint"] == 0.0
    assert "train.csv (40 structures)" in metrics["novelty_reference"]
    assert "val.csv (20 structures)" in metrics["novelty_reference"]
    assert metrics["by_task"].keys() == {"unconditional"}  # no task column: unconditional


def test_novelty_is_measured_against_every_known_structure(splits, tmp_path):
    val = pd.read_csv(splits["val"]).head(4)
    samples = tmp_path / "samples.csv"
    val[["material_id", "cif"]].to_csv(samples, index=False)
    only_train = evaluate_files(
        samples, [splits["train"]], splits["test"], tmp_path / "a.json", workers=1, cache_dir=splits["cache"]
    )
    with_val = evaluate_files(
        samples,
        [splits["train"], splits["val"]],
        splits["test"],
        tmp_path / "b.json",
        workers=1,
        cache_dir=splits["cache"],
    )
    assert only_train["novelty"] == 1.0
    assert with_val["novelty"] == 0.0
    assert with_val["novelty_fingerprint"] == 0.0


def test_fingerprint_novelty_is_against_the_training_split_and_the_others_are_not_fingerprinted(
    splits, tmp_path
):
    """The paper's definition: the nearest training structure. A validation structure is known (not
    novel by StructureMatcher) yet novel by both of the paper's measures, and the validation split is
    read without CrystalNN."""
    val = pd.read_csv(splits["val"]).head(4)
    samples = tmp_path / "samples.csv"
    val[["material_id", "cif"]].to_csv(samples, index=False)
    cache = tmp_path / "fresh-cache"
    metrics = evaluate_files(
        samples,
        [splits["train"], splits["val"]],
        splits["test"],
        tmp_path / "m.json",
        workers=1,
        cache_dir=cache,
        train=splits["train"],
    )
    assert metrics["novelty"] == 0.0
    assert metrics["novelty_train"] == 1.0
    assert metrics["novelty_fingerprint"] > 0.0
    assert "train.csv (40 structures)" in metrics["novelty_fingerprint_reference"]
    assert "val.csv" not in metrics["novelty_fingerprint_reference"]
    assert "val.csv (20 structures)" in metrics["novelty_reference"]
    assert "training structure" in metrics["definitions"]["novelty_fingerprint"]
    # the training and test splits were fingerprinted (and cached); the validation split was not
    assert len(list(cache.glob("fingerprints-*.npz"))) == 2


def test_a_known_set_read_for_structurematcher_only_costs_no_fingerprints(splits):
    known = known_set([splits["val"]], fingerprinted=False)
    assert len(known.structures) == 20
    assert known.fingerprints is None
    assert "val.csv (20 structures)" in known.label


def test_top_level_metrics_of_a_mixed_file_ignore_its_infill_rows(splits, tmp_path):
    test = pd.read_csv(splits["test"])
    unconditional = [
        {"id": f"u-{i}", "task": "unconditional", "status": "ok", "cif": cif}
        for i, cif in enumerate(test.cif[:3])
    ]
    squeezed = rocksalt(1.0).to(fmt="cif")  # atoms 0.5 Å apart: structurally invalid
    infill = [
        {
            "id": f"i-{i}",
            "task": "infill",
            "status": "ok",
            "cif": squeezed,
            "masked_element": "K",
            "proposed_element": "Na",
        }
        for i in range(4)
    ]
    mixed = evaluate_files(
        _samples_csv(tmp_path / "mixed.csv", unconditional + infill),
        [splits["train"]],
        splits["test"],
        tmp_path / "mixed.json",
        workers=1,
        cache_dir=splits["cache"],
    )
    alone = evaluate_files(
        _samples_csv(tmp_path / "alone.csv", unconditional),
        [splits["train"]],
        splits["test"],
        tmp_path / "a.json",
        workers=1,
        cache_dir=splits["cache"],
    )
    by_task = mixed.pop("by_task")
    assert mixed["n_samples"] == 3
    for key in ("structural_validity", "coverage_recall", "coverage_precision", "wdist_density", "novelty"):
        assert mixed[key] == alone[key], key
    assert by_task["infill"]["n_samples"] == 4
    assert by_task["infill"]["structural_validity"] == 0.0
    assert by_task["infill"]["infill_success"] == 0.0
    assert by_task["unconditional"]["structural_validity"] == mixed["structural_validity"]
    assert json.loads((tmp_path / "mixed.json").read_text())["definitions"]["m3gnet_metastable_rate"]


def test_identity_infills_are_not_successes():
    nacl = rocksalt(5.64)
    samples = [
        Sample("i-0", nacl, "infill", masked_element="Na", proposed_element="Na"),
        Sample("i-1", rocksalt(5.9, ("K", "Cl")), "infill", masked_element="Na", proposed_element="K"),
        Sample("i-2", None, "infill", masked_element="Na", proposed_element=""),
    ]
    outcome = infill_outcomes(samples, np.array([True, True, False]))
    assert outcome == {"infill_identity": 1, "infill_success": pytest.approx(1 / 3)}


def test_rates_say_what_they_count():
    ehull = np.array([0.05, 0.3, -0.5, np.nan, np.nan, 0.0])
    flagged = np.array([False, False, True, False, False, False])
    rates = stability_rates(ehull, flagged, n_all=8)
    assert rates["n_rated"] == 4
    assert rates["n_flagged"] == 1
    assert rates["m3gnet_metastable"] == 2  # 0.05 and 0.0; the flagged -0.5 is not a distance
    assert rates["m3gnet_metastable_rate"] == 0.5
    assert rates["m3gnet_metastable_rate_all"] == 0.25
    assert stability_rates(ehull, flagged, 8, keep_flagged=True)["m3gnet_metastable"] == 3


def test_conditional_accuracy_per_condition():
    nacl = rocksalt(5.64)
    full = {"formula": "NaCl", "spacegroup": 225, "e_above_hull": 0.0}
    samples = [
        Sample("c-0", nacl, "conditional", conditions=full),  # every condition met
        Sample("c-1", nacl, "conditional", conditions=full | {"e_above_hull": 0.2}),  # E_hull missed
        Sample("c-2", nacl, "conditional", conditions={"formula": "KCl"}),
        Sample("c-3", nacl, "conditional", conditions=full),  # never rated: E_hull missed
    ]
    result = conditional_accuracy(samples, np.array([0.03, 0.03, np.nan, np.nan]), tolerance=0.05)
    assert result["formula_samples"] == 4
    assert result["formula_accuracy"] == 0.75
    assert result["spacegroup_samples"] == 3
    assert result["spacegroup_accuracy"] == 1.0
    assert result["e_above_hull_samples"] == 3
    assert result["e_above_hull_accuracy"] == pytest.approx(1 / 3)
    assert result["all_conditions_samples"] == 3
    assert result["all_conditions_accuracy"] == pytest.approx(1 / 3)


def test_conditional_outcomes_say_what_each_sample_wrote():
    samples = [
        Sample("c-0", rocksalt(5.64), "conditional", conditions={"formula": "NaCl", "spacegroup": 225}),
        Sample("c-1", rocksalt(5.64), "conditional", conditions={"formula": "Cl2Na2", "e_above_hull": 0.1}),
        Sample("c-2", rocksalt(5.0, ("K", "Cl")), "conditional", conditions={"formula": "NaCl"}),
        Sample("c-3", None, "conditional", reason="unparseable", conditions={"formula": "LiMnO2"}),
    ]
    rows = conditional_outcomes(samples, np.array([0.0, np.nan, 0.4, np.nan]))
    assert [r["formula_written"] for r in rows] == ["NaCl", "NaCl", "KCl", None]
    assert [r["formula_met"] for r in rows] == [True, True, False, False]  # reduced formulas compared
    assert rows[0]["spacegroup_found"] == 225 and rows[0]["spacegroup_met"] is True
    assert rows[1]["spacegroup"] is None and rows[1]["spacegroup_met"] is None  # not asked for
    assert rows[1]["e_above_hull_met"] is False  # unrated: a miss, and no E_hull shown
    assert rows[1]["e_above_hull_m3gnet"] is None and rows[2]["e_above_hull_m3gnet"] == 0.4
    assert rows[3]["spacegroup_found"] is None
    rates = conditional_accuracy(samples, outcomes=rows)
    assert rates["formula_accuracy"] == 0.5 and rates["formula_samples"] == 4


def test_elements_met_tells_a_wrong_count_from_a_wrong_element():
    samples = [
        Sample("c-0", rocksalt(5.64), "conditional", conditions={"formula": "NaCl"}),
        Sample("c-1", rocksalt(5.64), "conditional", conditions={"formula": "NaCl3"}),  # counts wrong
        Sample("c-2", rocksalt(5.0, ("K", "Cl")), "conditional", conditions={"formula": "NaCl"}),
        Sample("c-3", rocksalt(5.64), "conditional", conditions={"formula": "Na2ClO4"}),  # O missing
        Sample("c-4", None, "conditional", reason="unparseable", conditions={"formula": "NaCl"}),
        Sample("c-5", rocksalt(5.64), "conditional", conditions={"spacegroup": 225}),  # no formula
    ]
    rows = conditional_outcomes(samples)
    assert [r["elements_met"] for r in rows] == [True, True, False, False, False, None]
    assert [r["formula_met"] for r in rows[:2]] == [True, False]
    rates = conditional_accuracy(samples, outcomes=rows)
    assert rates["elements_accuracy"] == pytest.approx(2 / 5)
    assert rates["formula_accuracy"] == pytest.approx(1 / 5)


def _prescreen_csv(path, rows):
    table = pd.DataFrame(rows)
    for column in ("flag", "reason"):
        if column not in table.columns:
            table[column] = ""
    table.to_csv(path, index=False)
    return path


def test_stability_sun_and_rmsd_over_rated_and_all_samples(splits, tmp_path):
    novel = [cscl(4.12), cscl(4.3, ("Rb", "Br")), cscl(4.0, ("Tl", "I")), cscl(3.9, ("K", "Br"))]
    rows = [
        {"id": f"u-{i}", "task": "unconditional", "status": "ok", "cif": s.to(fmt="cif")}
        for i, s in enumerate(novel)
    ]
    samples = _samples_csv(tmp_path / "samples.csv", rows)
    relaxed = [s.copy() for s in novel]
    relaxed[0].scale_lattice(relaxed[0].volume * 1.03)
    prescreen = _prescreen_csv(
        tmp_path / "results.csv",
        [
            {"id": "u-0", "status": "ok", "e_above_hull": 0.05, "cif_relaxed": relaxed[0].to(fmt="cif")},
            {"id": "u-1", "status": "ok", "e_above_hull": -0.05, "cif_relaxed": relaxed[1].to(fmt="cif")},
            {
                "id": "u-2",
                "status": "ok",
                "e_above_hull": -0.9,
                "flag": "far_below_hull",
                "cif_relaxed": relaxed[2].to(fmt="cif"),
            },
        ],
    )
    metrics = evaluate_files(
        samples,
        [splits["train"]],
        splits["test"],
        tmp_path / "m.json",
        prescreen=prescreen,
        workers=1,
        cache_dir=splits["cache"],
    )
    assert metrics["n_rated"] == 3
    assert metrics["m3gnet_metastable"] == 2
    assert metrics["m3gnet_metastable_rate"] == pytest.approx(2 / 3)
    assert metrics["m3gnet_metastable_rate_all"] == 0.5
    assert metrics["rated_all_valid"] is False  # u-3 is valid and unrated
    assert metrics["sun_rate"] == 0.5  # u-0 and u-1; the flagged u-2 does not count
    assert metrics["sun_rate_stable"] == 0.25  # u-1 alone is below the hull
    assert metrics["rmsd_relaxation"] == pytest.approx(0.0, abs=1e-6)  # a uniform strain is no displacement
    assert metrics["rmsd_relaxation_unmatched"] == 0


def test_a_failed_relaxation_is_a_verdict_and_a_rating_of_another_structure_is_not(splits, tmp_path):
    novel = [cscl(4.12), cscl(4.3, ("Rb", "Br")), cscl(4.0, ("Tl", "I"))]
    rows = [
        {"id": f"u-{i}", "task": "unconditional", "status": "ok", "cif": s.to(fmt="cif")}
        for i, s in enumerate(novel)
    ]
    samples = _samples_csv(tmp_path / "samples.csv", rows)
    other = cscl(3.9, ("K", "Br"))  # what an earlier run sampled under u-2
    novel = [parse_cif(s.to(fmt="cif"))[0] for s in novel]  # as the prescreen read them
    prescreen = _prescreen_csv(
        tmp_path / "results.csv",
        [
            {"id": "u-0", "structure_sha": structure_sha(novel[0]), "status": "ok", "e_above_hull": 0.05},
            {
                "id": "u-1",
                "structure_sha": structure_sha(novel[1]),
                "status": "failed",
                "e_above_hull": None,
                "reason": "volume grew 12x",
            },
            {"id": "u-2", "structure_sha": structure_sha(other), "status": "ok", "e_above_hull": 0.0},
        ],
    )
    kwargs = {"prescreen": prescreen, "workers": 1, "cache_dir": splits["cache"]}
    metrics = evaluate_files(samples, [splits["train"]], splits["test"], tmp_path / "m.json", **kwargs)
    assert metrics["n_rated"] == 1  # u-2's rating is of another structure
    assert metrics["n_relax_failed"] == 1
    assert metrics["m3gnet_metastable"] == 1
    assert metrics["m3gnet_metastable_rate_all"] == pytest.approx(1 / 3)
    assert metrics["rated_all_valid"] is False  # u-2 has no verdict of its own

    prescreen = _prescreen_csv(
        tmp_path / "results.csv",
        [
            {"id": "u-0", "structure_sha": structure_sha(novel[0]), "status": "ok", "e_above_hull": 0.05},
            {"id": "u-1", "structure_sha": structure_sha(novel[1]), "status": "failed", "e_above_hull": None},
            {
                "id": "u-2",
                "structure_sha": structure_sha(novel[2]),
                "status": "skipped",
                "e_above_hull": None,
            },
        ],
    )
    metrics = evaluate_files(samples, [splits["train"]], splits["test"], tmp_path / "m.json", **kwargs)
    # A failed relaxation and the pre-filter's skip are verdicts: not metastable.
    assert metrics["rated_all_valid"] is True
    assert (metrics["n_relax_failed"], metrics["n_prefiltered"]) == (1, 1)
    assert metrics["m3gnet_metastable_rate_all"] == pytest.approx(1 / 3)


def test_dft_stable_rate_follows_the_papers_footnote(splits, tmp_path):
    rows = [
        {"id": f"u-{i}", "task": "unconditional", "status": "ok", "cif": cscl(4.1 + 0.1 * i).to(fmt="cif")}
        for i in range(4)
    ]
    samples = _samples_csv(tmp_path / "samples.csv", rows)
    prescreen = _prescreen_csv(
        tmp_path / "results.csv",
        [
            {"id": f"u-{i}", "status": "ok", "e_above_hull": e, "cif_relaxed": ""}
            for i, e in enumerate([0.05, 0.3, 0.02, 0.01])
        ],
    )
    dft = tmp_path / "dft.csv"
    shas = [structure_sha(parse_cif(row["cif"])[0]) for row in rows]
    # Joined by structure, never by id: an earlier run's u-3 (another structure, stable by DFT) and
    # u-0's structure under another id both find their own sample, or none.
    pd.DataFrame(
        {
            "candidate_id": ["u-0", "u-1", "renamed", "u-3"],
            "structure_sha": [shas[0], shas[1], shas[2], structure_sha(cscl(9.9))],
            "e_above_hull_dft": [-0.01, -0.02, 0.04, -0.5],
        }
    ).to_csv(dft, index=False)
    metrics = evaluate_files(
        samples,
        [splits["train"]],
        splits["test"],
        tmp_path / "m.json",
        prescreen=prescreen,
        dft=dft,
        workers=1,
        cache_dir=splits["cache"],
    )
    assert metrics["dft_completed"] == 3
    assert metrics["dft_stable"] == 1  # u-1 is below the DFT hull but was not M3GNet-metastable
    assert metrics["dft_stable_rate"] == 0.25  # over all four samples
    assert metrics["ehull_max"] == 0.1

    # An older table without structure hashes cannot be joined, and says what to do.
    pd.DataFrame({"candidate_id": ["u-0"], "e_above_hull_dft": [-0.01]}).to_csv(dft, index=False)
    with pytest.raises(InputError, match="rerun `xtalgen dft collect`"):
        evaluate_files(samples, [splits["train"]], splits["test"], tmp_path / "m2.json", dft=dft, workers=1,
                       cache_dir=splits["cache"])  # fmt: skip


def test_prescreen_summary_uses_the_evaluations_words_and_numbers(tmp_path):
    structures = pd.DataFrame(
        {
            "id": ["u-0", "u-1", "u-2", "i-0", "i-1"],
            "cif": ["x"] * 5,
            "task": ["unconditional"] * 3 + ["infill"] * 2,
        }
    )
    structures.to_csv(tmp_path / "structures.csv", index=False)
    results = _prescreen_csv(
        tmp_path / "results.csv",
        [
            {"id": "u-0", "status": "ok", "e_above_hull": 0.05},
            {"id": "u-1", "status": "ok", "e_above_hull": 0.4},
            {"id": "i-0", "status": "ok", "e_above_hull": 0.01},
            {"id": "i-1", "status": "failed", "e_above_hull": np.nan},
        ],
    )
    select_files(
        results, 0.1, tmp_path / "meta.csv", tmp_path / "summary.json", structures=tmp_path / "structures.csv"
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    unconditional = summary["by_task"]["unconditional"]
    assert unconditional["structures"] == 3
    assert unconditional["n_rated"] == 2
    assert unconditional["m3gnet_metastable_rate"] == 0.5
    assert unconditional["m3gnet_metastable_rate_all"] == pytest.approx(1 / 3)
    assert summary["by_task"]["infill"]["m3gnet_metastable_rate"] == 1.0
    assert summary["m3gnet_metastable_rate"] == pytest.approx(2 / 3)
    assert summary["definitions"]["m3gnet_metastable_rate"].endswith("/ n_rated")


def test_a_capped_prescreen_rates_every_task(tmp_path):
    tasks = ["unconditional"] * 6 + ["conditional"] * 2 + ["infill"] * 2 + ["infill_uniform"] * 2
    table = pd.DataFrame({"id": [f"s{i}" for i in range(12)], "cif": ["x"] * 12, "task": tasks})
    table.to_csv(tmp_path / "structures.csv", index=False)
    shards = [tmp_path / "a.csv", tmp_path / "b.csv"]
    assert split_structures(tmp_path / "structures.csv", shards, max_structures=8) == 8
    dealt = pd.concat([pd.read_csv(p) for p in shards])
    assert dealt["task"].value_counts().to_dict() == {
        "unconditional": 2,
        "conditional": 2,
        "infill": 2,
        "infill_uniform": 2,
    }
    # Table 1's task whole, and the cap over the others.
    dealt = split_structures(tmp_path / "structures.csv", shards, max_structures=3, all_unconditional=True)
    assert dealt == 9
    dealt = pd.concat([pd.read_csv(p) for p in shards])
    assert dealt["task"].value_counts().to_dict() == {
        "unconditional": 6,
        "conditional": 1,
        "infill": 1,
        "infill_uniform": 1,
    }


def test_known_set_reports_what_it_holds(splits):
    known = known_set([splits["train"], splits["val"]], workers=1, cache_dir=splits["cache"])
    assert len(known.structures) == 60
    assert known.fingerprints.structure.shape == (60, 61)


def test_samples_without_a_task_column_are_unconditional(tmp_path):
    pd.DataFrame({"id": ["a"], "cif": [rocksalt(5.64).to(fmt="cif")]}).to_csv(tmp_path / "s.csv", index=False)
    assert [s.task for s in read_samples(tmp_path / "s.csv")] == ["unconditional"]


def test_comparison_says_where_the_protocol_differs():
    metrics = {"n_samples": 16, "n_rated": 4, "rated_all_valid": False, "m3gnet_metastable_rate": 0.25}
    run = {"constraint": "format", "max_attempts": 3, "hull": "dataset hull of 15775 entries"}
    table = comparison_table(metrics, run).set_index("metric")
    assert [f"protocol: {p}" for p in PROTOCOL] == list(table.index[-len(PROTOCOL) :])
    assert "16 unconditional" in table.loc["protocol: samples", "this run"]
    assert "constraint format" in table.loc["protocol: decoding", "this run"]
    assert "4 rated of 16" in table.loc["protocol: metastable", "this run"]
    assert table.loc["protocol: samples", "paper: LLaMA-2 70B, T=0.7"] == "10,000 per model"
    assert table.loc["m3gnet_metastable_rate", "paper: LLaMA-2 70B, T=0.7"] == 0.498


def test_first_draw_validity_leaves_out_what_redraws_gave(splits, tmp_path):
    good = rocksalt(5.6).to(fmt="cif")
    rows = [
        {"id": "u-0", "attempt": 1, "task": "unconditional", "status": "ok", "cif": good},
        {"id": "u-1", "attempt": 1, "task": "unconditional", "status": "rejected", "reason": "garbage"},
        {"id": "u-1", "attempt": 2, "task": "unconditional", "status": "ok", "cif": cscl(4.1).to(fmt="cif")},
    ]
    samples = tmp_path / "samples.csv"
    pd.DataFrame(rows).reindex(columns=["id", "attempt", "task", "status", "reason", "cif"]).fillna(
        ""
    ).to_csv(samples, index=False)
    assert [s.attempt for s in read_samples(samples)] == [1, 2]
    metrics = evaluate_files(
        samples, [splits["train"]], splits["test"], tmp_path / "m.json", workers=1, cache_dir=splits["cache"]
    )
    assert metrics["structural_validity"] == 1.0
    assert metrics["structural_validity_first_draw"] == 0.5
    assert metrics["median_elements"] == 2.0
    assert "first draw" in metrics["definitions"]["structural_validity_first_draw"]


def test_structures_the_base_pretrained_on_are_not_novel(splits, tmp_path):
    from xtalgen.testing import shared_data_dir  # noqa: PLC0415

    extra = pd.read_csv(shared_data_dir() / "mp_20" / "biternary" / "val.csv.gz").head(3)
    seen = tmp_path / "seen.csv"
    extra.rename(columns={"material_id": "id"})[["id", "cif"]].to_csv(seen, index=False)
    kwargs = {"workers": 1, "cache_dir": splits["cache"]}
    alone = evaluate_files(seen, [splits["train"]], splits["test"], tmp_path / "a.json", **kwargs)
    assert alone["novelty"] == 1.0
    counted = evaluate_files(
        seen, [splits["train"]], splits["test"], tmp_path / "b.json", seen=[seen], **kwargs
    )
    assert counted["novelty"] == 0.0
    assert counted["novelty_fingerprint"] == 1.0  # no fingerprints for them: the label says so
    assert "StructureMatcher novelty only" in counted["novelty_reference"]


def test_a_many_element_sample_does_not_stall_compositional_validity():
    from pymatgen.core import Composition  # noqa: PLC0415

    from xtalgen.evaluate.validity import (  # noqa: PLC0415
        MAX_OXIDATION_COMBINATIONS,
        composition_valid,
        oxidation_combinations,
    )

    sampled = Composition("Tb Pm Nd Zr Cr2 Fe Tc Ag Sb Mo P C2 S6")  # kept SMACT busy for 20+ minutes
    assert oxidation_combinations(sampled) > MAX_OXIDATION_COMBINATIONS
    assert composition_valid(sampled) is False
    six = Composition("LiNaMgAlSiO6")  # MP-20's most elements still go through SMACT's search
    assert oxidation_combinations(six) <= MAX_OXIDATION_COMBINATIONS
    assert composition_valid(Composition("Li7La3Zr2O12")) is True


def test_novelty_is_against_everything_the_run_knows_and_the_papers_beside_it(splits, tmp_path):
    """A sample that rebuilds a test structure (where conditional prompts come from) is not new."""
    test = pd.read_csv(splits["test"])
    rows = [
        {"id": f"u-{i}", "task": "unconditional", "status": "ok", "cif": cif}
        for i, cif in enumerate(test["cif"][:3])
    ]
    samples = _samples_csv(tmp_path / "samples.csv", rows)
    everything = [splits["train"], splits["val"], splits["test"]]
    metrics = evaluate_files(
        samples, everything, splits["test"], tmp_path / "m.json", workers=1, cache_dir=splits["cache"],
        train=splits["train"],
    )  # fmt: skip
    assert metrics["novelty"] == 0.0
    assert metrics["novelty_train"] == 1.0  # the paper's Table 1 novelty: against training structures
    assert str(splits["test"]) in metrics["novelty_reference"]
    assert str(splits["train"]) in metrics["novelty_train_reference"]
    assert metrics["sun_rate"] in (None, 0.0)
    # More structures the run knows, matched by StructureMatcher only (a corpus, the hull's rows).
    seen = tmp_path / "hull_rows.csv"
    test.head(3).to_csv(seen, index=False)
    out, cache = tmp_path / "m2.json", splits["cache"]
    known_less = evaluate_files(
        samples, [splits["train"]], splits["test"], out, workers=1, cache_dir=cache, seen=[seen]
    )
    assert known_less["novelty"] == 0.0
    assert known_less["novelty_train"] is None  # no training set named


def test_seen_rows_are_indexed_by_their_formula_column_and_parsed_only_where_it_fails(tmp_path):
    """MP-20's ``pretty_formula`` spares parsing 15,000 CIFs; a blank or bad formula is parsed instead."""
    nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    kcl = Structure(Lattice.cubic(6.29), ["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rows = [
        ("mp-1", "Na4Cl4", nacl.to(fmt="cif")),
        ("mp-2", "", kcl.to(fmt="cif")),  # no formula: parsed
        ("mp-3", "not a formula", kcl.to(fmt="cif")),  # bad formula: parsed
        ("mp-4", "", "data_x\nnot a CIF"),  # neither: left out
    ]
    seen = tmp_path / "hull_rows.csv"
    pd.DataFrame(rows, columns=["material_id", "pretty_formula", "cif"]).to_csv(seen, index=False)
    known = known_set([], seen=[seen])
    assert sorted(known.seen) == ["KCl", "NaCl"]
    assert len(known.seen["KCl"]) == 2 and len(known.seen["NaCl"]) == 1
    matched = known.matching([nacl])  # only the samples' formulas are parsed
    assert len(matched) == 1 and matched[0].composition.reduced_formula == "NaCl"
    assert "KCl" in known.seen
