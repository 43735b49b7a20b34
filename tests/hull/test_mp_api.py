"""The MP API hull reference. The Materials Project cannot be reached from CI, so its client is
replaced by FakeMPResterOffline, which answers from the dataset hull's entries with MPRester's
signature (checked against the installed mp-api below)."""

from __future__ import annotations

import inspect

import pytest
from mp_api.client import MPRester
from pymatgen.core import Composition, Lattice, Structure

from xtalgen.hull.mp_api import MP_CRITERIA, maximal_chemsys, mp_api_entries
from xtalgen.hull.reference import HullError, dataset_entries, elemental_references, load_hull
from xtalgen.prescreen.stage import build_hull_file, dataset_tables
from xtalgen.testing import shared_data_dir


class FakeMPResterOffline:
    """Test double of mp_api.client.MPRester: the chemical system's entries from a local list."""

    def __init__(self, entries):
        self.entries = entries
        self.queries: list[list[str]] = []

    def get_entries_in_chemsys(self, elements, *, additional_criteria):
        assert additional_criteria == MP_CRITERIA
        self.queries.append(list(elements))
        allowed = set(elements)
        return [e for e in self.entries if {el.symbol for el in e.composition.elements} <= allowed]


@pytest.fixture(scope="module")
def local_entries(pilot_dir):
    refs = shared_data_dir() / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"
    return dataset_entries(dataset_tables([pilot_dir]), elemental_references(refs))


def test_the_fake_matches_the_real_client_signature():
    signature = inspect.signature(MPRester.get_entries_in_chemsys)
    signature.bind(None, ["Li", "O"], additional_criteria=MP_CRITERIA)
    assert "additional_criteria" in signature.parameters


def test_one_query_per_maximal_chemical_system():
    comps = [Composition("LiFeO2"), Composition("Li2O"), Composition("NaCl"), Composition("FeO")]
    assert maximal_chemsys(comps) == ["Cl-Na", "Fe-Li-O"]


def test_answers_are_cached_per_chemical_system(local_entries, tmp_path):
    client = FakeMPResterOffline(local_entries)
    binaries = [e.composition for e in local_entries if len(e.composition.elements) == 2]
    comps = [binaries[0], next(c for c in binaries if set(c.elements).isdisjoint(binaries[0].elements))]
    first = mp_api_entries(comps, tmp_path, lambda: client)
    systems = sorted(c.chemical_system for c in comps)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{s}.json.gz" for s in systems]
    assert len(client.queries) == 2
    formulas = {e.composition.reduced_formula for e in first}
    assert {c.reduced_formula for c in comps} <= formulas
    assert all(e.composition.chemical_system in systems or len(e.composition.elements) == 1 for e in first)

    def no_network():
        raise AssertionError("a cached chemical system was asked for again")

    again = mp_api_entries(comps, tmp_path, no_network)
    assert sorted(e.entry_id for e in again) == sorted(e.entry_id for e in first)


def test_offline_without_cache_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("XTALGEN_OFFLINE", "1")
    with pytest.raises(HullError, match=r"hull\.reference mp_api: offline"):
        mp_api_entries([Composition("Li2O")], tmp_path)


def test_missing_key_says_which_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("XTALGEN_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(HullError, match="MP_API_KEY"):
        mp_api_entries([Composition("Li2O")], tmp_path)


def test_cached_answers_build_a_hull_offline(local_entries, tmp_path, monkeypatch):
    structures = tmp_path / "candidates.csv"
    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.6), ["O", "Li"], [[0, 0, 0], [0.25] * 3])
    structures.write_text(f'id,cif\nx,"{li2o.to(fmt="cif")}"\n')
    cache = tmp_path / "cache"
    mp_api_entries([Composition("Li2O")], cache, lambda: FakeMPResterOffline(local_entries))
    monkeypatch.setenv("XTALGEN_OFFLINE", "1")
    n = build_hull_file(tmp_path / "hull.json.gz", mp_api_structures=structures, mp_api_cache=cache)
    hull = load_hull(tmp_path / "hull.json.gz")
    assert n > 2
    assert {el.symbol for el in hull.elements} == {"Li", "O"}


def test_a_cached_answer_cut_mid_write_is_fetched_again(local_entries, tmp_path, caplog):
    import random  # noqa: PLC0415

    client = FakeMPResterOffline(local_entries)
    binary = next(e.composition for e in local_entries if len(e.composition.elements) == 2)
    first = mp_api_entries([binary], tmp_path, lambda: client)
    cached = tmp_path / f"{binary.chemical_system}.json.gz"
    whole = cached.read_bytes()
    cached.write_bytes(whole[: random.Random(3).randrange(1, len(whole))])  # a crash mid-write
    again = mp_api_entries([binary], tmp_path, lambda: client)
    assert len(client.queries) == 2  # asked again, not read from the torn file
    assert "cached MP answer unreadable" in caplog.text
    assert sorted(str(e.entry_id) for e in again) == sorted(str(e.entry_id) for e in first)
    mp_api_entries([binary], tmp_path, lambda: client)
    assert len(client.queries) == 2  # the entry was rebuilt whole: the next run trusts it
