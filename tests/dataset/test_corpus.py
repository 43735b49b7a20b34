"""The tiny base's pretraining corpus: extra rows in, held-out ids out, through the real data stage."""

from __future__ import annotations

import json

import pandas as pd

from xtalgen.cli import main
from xtalgen.dataset.corpus import pretraining_corpus
from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.dataset.sources import find_split_file
from xtalgen.testing import shared_data_dir


def _setup(tmp_path, pilot_dir):
    prepare_split(
        find_split_file(pilot_dir, "train"), "train", tmp_path / "train", PrepareSettings(max_rows=20)
    )
    extra = pd.read_csv(shared_data_dir() / "mp_20" / "biternary" / "val.csv.gz").head(30)
    extra_csv = tmp_path / "extra.csv"
    extra.to_csv(extra_csv, index=False)
    held_out = tmp_path / "held_out.csv"  # as a run's val split would hold some of the same ids
    pd.DataFrame({"id": extra["material_id"].head(5), "cif": extra["cif"].head(5)}).to_csv(
        held_out, index=False
    )
    return extra, extra_csv, held_out


def test_extra_rows_join_the_training_records_and_held_out_ids_stay_out(tmp_path, pilot_dir):
    extra, extra_csv, held_out = _setup(tmp_path, pilot_dir)
    out = tmp_path / "corpus"
    summary = pretraining_corpus(tmp_path / "train" / "prompts.jsonl", [extra_csv], [held_out], out)
    records = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    ids = {r["id"] for r in records}
    held = set(extra["material_id"].head(5))
    assert not ids & held
    assert set(extra["material_id"].iloc[5:]) <= ids
    train_ids = {
        json.loads(line)["id"] for line in (tmp_path / "train" / "prompts.jsonl").read_text().splitlines()
    }
    assert train_ids <= ids
    structures = pd.read_csv(out / "structures.csv")
    assert set(structures["id"]) == set(extra["material_id"].iloc[5:])
    assert summary["extra"][str(extra_csv)] == {
        "rows": 30,
        "rejects": 0,
        "held_out_dropped": 5,
        "structures": 25,
    }
    assert {r["task"] for r in records} == {"unconditional", "conditional", "infill"}


def test_generation_only_leaves_infill_to_lora(tmp_path, pilot_dir, capsys):
    _, extra_csv, held_out = _setup(tmp_path, pilot_dir)
    out = tmp_path / "corpus"
    code = main(
        [
            "data", "corpus", "--records", str(tmp_path / "train" / "prompts.jsonl"),
            "--extra", str(extra_csv), "--held-out", str(held_out),
            "--out", str(out), "--tasks", "generation", "--workers", "1",
        ]
    )  # fmt: skip
    assert code == 0
    records = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    assert {r["task"] for r in records} == {"unconditional", "conditional"}
    assert "extra structures" in capsys.readouterr().out
    # Every extra structure gives a crystal to learn: none is drawn as infill and dropped.
    used = set(pd.read_csv(out / "structures.csv", dtype={"id": str})["id"])
    assert used and used <= {r["id"] for r in records}
