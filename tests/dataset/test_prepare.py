from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from xtalgen.dataset.mp20 import DatasetError, Entry, Reject, parse_row, read_table
from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.text.codec import decode


def disordered_cif() -> str:
    return Structure(Lattice.cubic(3.6), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]]).to(fmt="cif")


@pytest.fixture
def bad_csv(tmp_path: Path, pilot_train: pd.DataFrame) -> Path:
    """Twenty good pilot rows with four bad ones among them."""
    table = pilot_train.head(24).copy()
    table.loc[3, "cif"] = "data_broken\n_cell_length_a 3.0\nnot a cif at all"
    table.loc[7, "cif"] = disordered_cif()
    table.loc[11, "band_gap"] = np.nan
    table.loc[15, "cif"] = np.nan
    path = tmp_path / "train.csv"
    table.to_csv(path, index=False)
    return path


def read_outputs(out: Path) -> tuple[pd.DataFrame, list[dict], pd.DataFrame, dict]:
    structures = pd.read_csv(out / "structures.csv")
    records = [json.loads(line) for line in (out / "prompts.jsonl").read_text().splitlines()]
    rejects = pd.read_csv(out / "rejects.csv")
    summary = json.loads((out / "summary.json").read_text())
    return structures, records, rejects, summary


def test_pilot_rows_parse(pilot_train: pd.DataFrame):
    row = pilot_train.iloc[0].to_dict()
    entry = parse_row(row, 1)
    assert isinstance(entry, Entry)
    assert entry.id == "mp-1221227"
    assert entry.properties["formula"] == "Na3MnCoNiO6"
    assert entry.properties["spacegroup"] == 8
    assert len(entry.structure) == 12


def test_bad_rows_become_rejects_with_reasons(bad_csv: Path, tmp_path: Path):
    out = tmp_path / "out"
    summary = prepare_split(bad_csv, "train", out, PrepareSettings(workers=1))
    structures, records, rejects, saved = read_outputs(out)
    assert summary.rows == 24 and summary.structures == 20 and summary.rejects == 4
    assert saved["rejects"] == 4
    reasons = dict(zip(rejects.row, rejects.reason, strict=True))
    assert reasons[4].startswith("unparseable CIF")
    assert "partial occupancy" in reasons[8]
    assert reasons[12] == "missing value in column 'band_gap'"
    assert reasons[16] == "missing value in column 'cif'"
    assert set(rejects.split) == {"train"}
    assert len(structures) == 20 and len(records) == 20
    for text, n_sites in zip(structures.text, structures.n_sites, strict=True):
        assert len(decode(text)) == n_sites


def test_strict_fails_naming_file_and_row(bad_csv: Path, tmp_path: Path):
    with pytest.raises(DatasetError, match=r"train.csv, row 4 \(id mp-\d+\): unparseable CIF"):
        prepare_split(bad_csv, "train", tmp_path / "out", PrepareSettings(strict=True))
    assert not (tmp_path / "out" / "structures.csv").exists()


def test_missing_column_names_file_and_column(tmp_path: Path, pilot_train: pd.DataFrame):
    path = tmp_path / "val.csv"
    pilot_train.head(3).drop(columns=["band_gap"]).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"val.csv: missing column\(s\) band_gap"):
        read_table(path)


def test_unreadable_file(tmp_path: Path):
    path = tmp_path / "test.csv.gz"
    path.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DatasetError, match=r"test\.csv\.gz: truncated or corrupt gzip"):
        read_table(path)


def test_rejects_keep_the_row_number_when_id_is_missing(pilot_train: pd.DataFrame):
    row = pilot_train.iloc[0].to_dict() | {"material_id": np.nan}
    reject = parse_row(row, 9)
    assert isinstance(reject, Reject)
    assert reject.row == 9 and reject.id == ""


def test_output_is_independent_of_workers(pilot_dir: Path, tmp_path: Path):
    one = tmp_path / "one"
    two = tmp_path / "two"
    prepare_split(pilot_dir / "val.csv.gz", "val", one, PrepareSettings(max_rows=200))
    prepare_split(pilot_dir / "val.csv.gz", "val", two, PrepareSettings(max_rows=200, workers=2))
    for name in ("structures.csv", "prompts.jsonl", "rejects.csv"):
        assert (one / name).read_text() == (two / name).read_text()


def test_augmentation_copies_and_translations(pilot_dir: Path, tmp_path: Path):
    settings = PrepareSettings(max_rows=30, copies=3, infill_fraction=0.0, seed=5)
    prepare_split(pilot_dir / "train.csv.gz", "train", tmp_path / "train", settings)
    prepare_split(pilot_dir / "test.csv.gz", "test", tmp_path / "test", settings)
    structures, records, _, summary = read_outputs(tmp_path / "train")
    assert len(records) == 90 and summary["records"] == 90
    by_id: dict[str, list[str]] = {}
    for record in records:
        by_id.setdefault(record["id"], []).append(record["completion"])
    untranslated = dict(zip(structures.id, structures.text, strict=True))
    for material_id, texts in by_id.items():
        assert len(texts) == 3
        assert len(set(texts)) > 1  # each copy has its own translation
        lattice_lines = {t.split("\n", 2)[1] for t in texts}
        assert lattice_lines == {untranslated[material_id].split("\n", 2)[1]}
    # Unaugmented splits get one untranslated record per structure.
    test_structures, test_records, _, _ = read_outputs(tmp_path / "test")
    assert len(test_records) == 30
    texts = dict(zip(test_structures.id, test_structures.text, strict=True))
    assert all(r["completion"] == texts[r["id"]] for r in test_records)


def test_seed_changes_the_draw(pilot_dir: Path, tmp_path: Path):
    for seed in (0, 1):
        settings = PrepareSettings(max_rows=50, seed=seed)
        prepare_split(pilot_dir / "train.csv.gz", "train", tmp_path / str(seed), settings)
    a = (tmp_path / "0" / "prompts.jsonl").read_text()
    b = (tmp_path / "1" / "prompts.jsonl").read_text()
    assert a != b


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="copies"):
        PrepareSettings(copies=0)
    with pytest.raises(ValueError, match="infill_fraction"):
        PrepareSettings(infill_fraction=1.5)
