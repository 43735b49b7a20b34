"""E_hull you can trust: hull coverage, flags, degenerate cells, rating that follows the hull.

With the real pretrained M3GNet-MP-2021.2.8-PES and real hulls built from the shared MP-20 rows.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monty.json import MontyEncoder
from pymatgen.analysis.phase_diagram import PatchedPhaseDiagram
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from xtalgen.cli import main
from xtalgen.config_check import ConfigError, check_config
from xtalgen.dataset.sources import sha256sum
from xtalgen.hull.energies import corrected_entry
from xtalgen.hull.flags import RatingSettings
from xtalgen.hull.reference import HullCoverage, HullError, elemental_references, load_hull, save_hull
from xtalgen.prescreen import shard
from xtalgen.prescreen.relax import RelaxResult
from xtalgen.prescreen.shard import PrescreenSettings, prescreen, select_metastable
from xtalgen.prescreen.stage import build_hull_file
from xtalgen.testing import shared_data_dir

REPO = Path(__file__).resolve().parents[2]
MODEL = shared_data_dir() / "matgl_models" / "M3GNet-MP-2021.2.8-PES"
REFS = shared_data_dir() / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"
BITERNARY = shared_data_dir() / "mp_20" / "biternary"


@pytest.fixture(scope="module")
def pilot_hull(tmp_path_factory, pilot_dir) -> Path:
    """The pilot splits alone: 3,000 rows, no compound of Ga-Se."""
    out = tmp_path_factory.mktemp("hulls") / "pilot.json.gz"
    build_hull_file(out, dataset=[pilot_dir], elemental_refs=REFS)
    return out


@pytest.fixture(scope="module")
def full_hull(tmp_path_factory, pilot_dir) -> tuple[Path, Path]:
    """The embedded config's hull: the pilot splits plus every binary and ternary val/test row."""
    folder = tmp_path_factory.mktemp("hulls")
    dataset = [pilot_dir, BITERNARY / "val.csv.gz", BITERNARY / "test.csv.gz"]
    build_hull_file(folder / "full.json.gz", dataset=dataset, elemental_refs=REFS, info=folder / "full.json")
    return folder / "full.json.gz", folder / "full.json"


def _row(paths: list[Path], material_id: str) -> tuple[str, Structure, None]:
    table = pd.concat([pd.read_csv(p) for p in paths])
    cif = table.loc[table["material_id"] == material_id, "cif"].iloc[0]
    return material_id, Structure.from_str(cif, fmt="cif"), None


@pytest.fixture(scope="module")
def inputs(pilot_dir) -> list:
    gase = _row(
        [BITERNARY / "val.csv.gz", BITERNARY / "test.csv.gz"], "mp-1572"
    )  # GaSe, an MP ground state (E_hull 0)
    pilot = pd.read_csv(pilot_dir / "test.csv.gz")
    ground = pilot[(pilot["e_above_hull"] == 0) & (pilot["elements"].str.count("'") == 4)].iloc[0]
    return [gase, _row([pilot_dir / "test.csv.gz"], ground["material_id"])]


def _flag(value: object) -> str:
    return "" if pd.isna(value) else str(value)


def _journal_lines(path: Path) -> int:
    return path.read_text().count("\n")


def test_hull_change_rerates_without_relaxing_and_flags_follow_the_hull(
    inputs, pilot_hull, full_hull, tmp_path
):
    out, journal = tmp_path / "r.csv", tmp_path / "r.journal.jsonl"
    settings = PrescreenSettings(model=str(MODEL), workers=1)

    table = prescreen(inputs, pilot_hull, out, journal, settings).set_index("id")
    assert _journal_lines(journal) == 2  # two relaxations
    gase, ground = table.loc["mp-1572"], table.loc[inputs[1][0]]
    # The pilot hull holds no Ga-Se compound: GaSe's "E_hull" is a formation energy, and flagged.
    assert gase["status"] == "ok" and gase["hull_compounds"] == 0
    assert gase["flag"] == "no_reference_compounds"
    assert "only a formation energy" in gase["reason"]
    assert "mp-1572" not in set(select_metastable(table.reset_index(), 0.1)["id"])
    assert "mp-1572" in set(select_metastable(table.reset_index(), 0.1, keep_flagged=True)["id"])
    # A ground state whose system the hull holds is rated and unflagged.
    assert ground["hull_compounds"] > 0 and _flag(ground["flag"]) == ""
    assert abs(ground["e_above_hull"]) < 0.1

    # Another hull: every structure is rated again, none relaxed again.
    rerated = prescreen(inputs, full_hull[0], out, journal, settings).set_index("id")
    assert _journal_lines(journal) == 2
    assert rerated.loc["mp-1572", "hull_compounds"] > 0
    assert _flag(rerated.loc["mp-1572", "flag"]) == ""
    assert abs(rerated.loc["mp-1572", "e_above_hull"]) < 0.1
    assert rerated.loc["mp-1572", "e_above_hull"] > gase["e_above_hull"] + 0.3

    # A changed relaxation setting relaxes again.
    prescreen(
        inputs, full_hull[0], out, journal, PrescreenSettings(model=str(MODEL), workers=1, max_sites=40)
    )
    assert _journal_lines(journal) == 4


def test_far_below_the_hull_is_flagged(inputs, full_hull, tmp_path):
    settings = PrescreenSettings(model=str(MODEL), workers=1)
    journal = tmp_path / "j.jsonl"
    relaxed = shard.relax_structures(inputs[:1], journal, settings)
    hull = load_hull(full_hull[0])
    # GaSe sits on the hull; a limit of -0.5 eV/atom below the hull makes 0 "far below" it.
    table = shard.rate(relaxed, hull, RatingSettings(max_below_hull=-0.5))
    assert table.loc[0, "flag"] == "far_below_hull"
    assert "below the hull" in table.loc[0, "reason"]
    assert _flag(shard.rate(relaxed, hull, RatingSettings())["flag"].iloc[0]) == ""


def test_an_element_is_rated_on_its_own_references_unflagged(pilot_hull, tmp_path):
    """A one-element structure's hull is its elemental references: no compound is needed."""
    si = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.47), ["Si"], [[0, 0, 0]])
    settings = PrescreenSettings(model=str(MODEL), workers=1)
    table = prescreen([("si", si, None)], pilot_hull, tmp_path / "r.csv", tmp_path / "j.jsonl", settings)
    assert table.loc[0, "status"] == "ok" and table.loc[0, "hull_compounds"] == 0
    assert _flag(table.loc[0, "flag"]) == ""
    assert abs(table.loc[0, "e_above_hull"]) < 0.05


def test_degenerate_cell_is_skipped_before_relaxation(pilot_hull, tmp_path):
    skewed = Structure(
        Lattice.from_parameters(4, 4, 4, 90, 90, 179), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    huge = Structure(Lattice.cubic(1e9), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    settings = PrescreenSettings(model=str(MODEL), workers=1)
    inputs = [("skewed", skewed, None), ("sparse", huge, None)]
    table = prescreen(inputs, pilot_hull, tmp_path / "r.csv", tmp_path / "j.jsonl", settings)
    reasons = dict(zip(table["id"], table["reason"], strict=True))
    assert set(table["status"]) == {"skipped"}
    assert "per atom" in reasons["skewed"] or "periodic images" in reasons["skewed"]
    assert "above 1000" in reasons["sparse"]


def test_a_relaxation_that_collapses_the_cell_fails(pilot_hull, tmp_path, monkeypatch, nacl):
    """The relaxed structure passes the same filter; a collapsed one fails with the reason."""

    def collapsing_relaxation_double(structure, potential, settings):  # stands in for a bad potential
        collapsed = Structure(
            Lattice.from_parameters(4, 4, 4, 90, 90, 179.5), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
        )
        return RelaxResult(collapsed, -7.0, 12, True, 0.1)

    monkeypatch.setattr(shard, "relax", collapsing_relaxation_double)
    settings = PrescreenSettings(model=str(MODEL), workers=1)
    table = prescreen([("nacl", nacl, None)], pilot_hull, tmp_path / "r.csv", tmp_path / "j.jsonl", settings)
    assert table.loc[0, "status"] == "failed"
    assert table.loc[0, "reason"].startswith("relaxed structure:")


def test_hull_coverage_counts_compounds_inside_the_chemical_system(full_hull):
    coverage = HullCoverage(load_hull(full_hull[0]))
    assert coverage.compounds(Composition("GaSe")) >= 1
    assert coverage.compounds(Composition("Ga2Se3O")) >= coverage.compounds(Composition("GaSe"))
    assert coverage.compounds(Composition("Xe")) == 0  # elements alone are no compounds
    info = json.loads(full_hull[1].read_text())
    assert info["reference"] == "dataset" and 15_000 < info["entries"] < 16_500
    assert info["sha256"] == sha256sum(full_hull[0])


def test_per_system_hull_rates_as_pymatgens_patched_phase_diagram(full_hull, tmp_path):
    """Each chemical system's own PhaseDiagram gives the E_hull of one hull over every phase."""
    hull = load_hull(full_hull[0])
    patched = PatchedPhaseDiagram(hull.all_entries)
    compounds = [e for e in hull.all_entries if len(e.composition.elements) > 1]
    probe = [compounds[i] for i in np.random.default_rng(0).choice(len(compounds), 60, replace=False)]
    probe.append(compounds[0])
    for entry in probe:
        for shift in (-0.3, 0.0, 0.2):  # below, on and above the hull
            moved = ComputedEntry(entry.composition, entry.energy + shift * entry.composition.num_atoms)
            assert hull.get_e_above_hull(moved) == pytest.approx(
                patched.get_e_above_hull(moved, allow_negative=True), abs=1e-9
            )
            assert hull.get_form_energy_per_atom(moved) == pytest.approx(
                patched.get_form_energy_per_atom(moved), abs=1e-9
            )
    # A hull file an older run saved as a PatchedPhaseDiagram still loads and rates alike.
    old = tmp_path / "old.json.gz"
    small = PatchedPhaseDiagram(
        [e for e in hull.all_entries if {el.symbol for el in e.composition.elements} <= {"Ga", "Se", "O"}]
    )
    with gzip.open(old, "wt") as handle:
        json.dump(small.as_dict(), handle, cls=MontyEncoder)
    gase = ComputedEntry("GaSe", -8.0)
    assert load_hull(old).get_e_above_hull(gase) == pytest.approx(hull.get_e_above_hull(gase), abs=1e-9)


def test_a_compound_without_its_elemental_reference_is_refused(tmp_path):
    entries = [ComputedEntry("Na", -1.3), ComputedEntry("NaCl", -7.0)]
    with pytest.raises(HullError, match="compounds of Cl but no elemental entry"):
        save_hull(entries, tmp_path / "h.json.gz")
    assert not (tmp_path / "h.json.gz").exists()


def _entries_file(pilot_dir: Path, path: Path) -> list[ComputedStructureEntry]:
    """A small MP entries file from the shared data: MP-compatible GGA(+U) entries, one r2SCAN."""
    refs = elemental_references(REFS)
    table = pd.read_csv(pilot_dir / "train.csv.gz").head(40)
    entries = list(refs.values())
    for row in table.itertuples():
        structure = Structure.from_str(row.cif, fmt="cif")
        mu = sum(refs[el.symbol].energy_per_atom * n for el, n in structure.composition.items())
        energy = row.formation_energy_per_atom * len(structure) + mu
        entries.append(corrected_entry(structure, energy, entry_id=row.material_id))
    scan = corrected_entry(structure, energy - 5.0 * len(structure), entry_id="r2scan-entry")
    scan.parameters["run_type"] = "r2SCAN"
    entries.append(scan)
    path.write_text(json.dumps(entries, cls=MontyEncoder))
    return entries


@pytest.fixture
def served(tmp_path, pilot_dir):
    """A local HTTP server holding a small entries file, as a download would."""
    root = tmp_path / "www"
    root.mkdir()
    entries = _entries_file(pilot_dir, root / "entries.json")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/entries.json", root / "entries.json", entries
    server.shutdown()


def test_entries_download_once_verified_and_gga_only(served, tmp_path, capsys, monkeypatch):
    url, local, entries = served
    cache = tmp_path / "cache"
    argv = ["hull", "build", "--entries", url, "--cache-dir", str(cache), "--info", str(tmp_path / "h.json")]
    good = f"sha256:{sha256sum(local)}"
    assert main([*argv, "--entries-checksum", "sha256:" + "0" * 64, "--out", str(tmp_path / "bad.gz")]) == 2
    err = capsys.readouterr().err
    assert "expected" in err and "--entries-checksum" in err
    assert not (cache / "entries.json").exists()  # a bad download never enters the cache

    assert main([*argv, "--entries-checksum", good, "--out", str(tmp_path / "h.json.gz")]) == 0
    hull = load_hull(tmp_path / "h.json.gz")
    ids = {e.entry_id for e in hull.all_entries}
    assert "r2scan-entry" not in ids  # GGA and GGA+U only
    assert len(hull.all_entries) == len(entries) - 1
    assert json.loads((tmp_path / "h.json").read_text())["sources"] == [url]

    # Offline: the cached copy serves; without one, the error names the setting.
    monkeypatch.setenv("XTALGEN_OFFLINE", "1")
    assert main([*argv, "--entries-checksum", good, "--out", str(tmp_path / "again.gz")]) == 0
    capsys.readouterr()
    assert (
        main(["hull", "build", "--entries", url, "--cache-dir", str(tmp_path / "empty"), "--out", "x.gz"])
        == 2
    )
    assert "--entries" in capsys.readouterr().err


def test_r2scan_with_a_running_backend_is_refused_at_the_config_check():
    config = {"dft": {"maker": "MPMetaGGADoubleRelaxStaticMaker", "backend": "local"}}
    with pytest.raises(ConfigError, match=r"dft\.maker.*MPGGADoubleRelaxStaticMaker"):
        check_config(config)
    check_config({"dft": {"maker": "MPMetaGGADoubleRelaxStaticMaker", "backend": "prepare"}})
