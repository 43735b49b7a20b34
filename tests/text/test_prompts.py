from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from xtalgen.text.codec import MASK_TOKEN, decode, encode
from xtalgen.text.prompts import (
    CONDITION_KEYS,
    GENERATION_INSTRUCTION,
    cell_formula,
    generation_prompt,
    make_record,
    mask_element,
    stated_formula,
)

PROPS = {
    "formula": "SiS2",
    "spacegroup": 72,
    "formation_energy_per_atom": -0.512345678,
    "e_above_hull": 0.0,
    "band_gap": 2.1,
}


@pytest.fixture
def sis2() -> Structure:
    return Structure(
        Lattice.orthorhombic(5.6, 5.5, 9.6),
        ["Si", "Si", "S", "S", "S", "S"],
        [
            [0, 0, 0],
            [0.5, 0.5, 0.5],
            [0.2, 0, 0.1],
            [0.8, 0, 0.9],
            [0.3, 0.5, 0.6],
            [0.7, 0.5, 0.4],
        ],
    )


def test_unconditional_prompt_is_the_papers():
    assert generation_prompt() == ("Below is a description of a bulk material. " + GENERATION_INSTRUCTION)


def test_conditional_prompt_states_each_condition_in_fixed_order():
    prompt = generation_prompt({"spacegroup": 225, "formula": "NaCl", "band_gap": 5.123456})
    assert prompt.index("The chemical formula is NaCl.") < prompt.index("The band gap is 5.1235.")
    assert "The spacegroup number is 225." in prompt
    assert prompt.endswith(GENERATION_INSTRUCTION)


def test_conditions_without_formula_are_refused():
    with pytest.raises(ValueError, match="formula"):
        generation_prompt({"spacegroup": 225})
    with pytest.raises(KeyError, match="unknown"):
        generation_prompt({"formula": "NaCl", "colour": "red"})


def test_mask_by_site_not_by_substring(sis2):
    masked = mask_element(encode(sis2), "S")
    lines = masked.split("\n")
    assert lines[2] == "Si" and lines[4] == "Si"
    assert [lines[i] for i in (6, 8, 10, 12)] == [MASK_TOKEN] * 4
    assert "Si" in masked  # a string replace of "S" would have turned it into "[MASK]i"
    assert "[MASK]i" not in masked


def test_mask_of_absent_element_is_refused(sis2):
    with pytest.raises(ValueError, match="'Fe' is not"):
        mask_element(encode(sis2), "Fe")


def test_task_mix_and_formula_rule(sis2):
    rng = np.random.default_rng(7)
    records = [make_record(sis2, PROPS, rng, record_id=f"x{i}") for i in range(3000)]
    tasks = [r.task for r in records]
    infill_share = tasks.count("infill") / len(tasks)
    assert 0.30 < infill_share < 0.37
    for record in records:
        if record.task == "conditional":
            assert record.conditions["formula"] == "SiS2"
            assert "The chemical formula is SiS2." in record.prompt
            assert set(record.conditions) <= set(CONDITION_KEYS)
            decode(record.completion)
        elif record.task == "unconditional":
            assert record.conditions == {}
            assert len(decode(record.completion)) == 6
        else:
            assert record.completion == record.masked_element
            assert record.completion in {"Si", "S"}
            assert MASK_TOKEN in record.prompt
            assert record.completion not in record.prompt.split("\n")
    # Every non-formula condition appears in some prompt, and single conditions occur.
    seen = {k for r in records for k in r.conditions}
    assert seen == set(CONDITION_KEYS)


def test_records_are_seeded(sis2):
    def draw(seed: int) -> list[str]:
        rng = np.random.default_rng(seed)
        return [make_record(sis2, PROPS, rng, record_id="a").prompt for _ in range(20)]

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_prompt_and_completion_are_kept_apart(sis2):
    rng = np.random.default_rng(0)
    record = make_record(sis2, PROPS, rng, record_id="a", infill_fraction=0.0)
    assert record.completion not in record.prompt
    assert record.prompt.endswith(GENERATION_INSTRUCTION)


def test_missing_property_is_never_a_condition(sis2):
    rng = np.random.default_rng(0)
    props = {**PROPS, "band_gap": None}
    records = [make_record(sis2, props, rng, record_id="a", infill_fraction=0) for _ in range(300)]
    assert all("band_gap" not in r.conditions for r in records)


def test_a_cell_style_prompt_states_the_cells_contents_in_site_order(sis2):
    # Sulfur first: the order is the sites', which the crystal string writes, not electronegativity.
    sis2_reordered = Structure(sis2.lattice, sis2.species[::-1], sis2.frac_coords[::-1])
    assert cell_formula(sis2) == "Si2S4"
    assert cell_formula(sis2_reordered) == "S4Si2"
    rng = np.random.default_rng(3)
    records = [make_record(sis2, PROPS, rng, record_id="x", formula_style="cell") for _ in range(60)]
    conditional = [r for r in records if r.task == "conditional"]
    assert conditional
    for record in conditional:
        assert record.conditions["formula"] == "Si2S4"
        assert "The chemical formula is Si2S4. " in record.prompt
    reduced = [make_record(sis2, PROPS, np.random.default_rng(3), record_id="x") for _ in range(1)]
    assert all(r.conditions.get("formula", "SiS2") == "SiS2" for r in reduced)


@pytest.mark.parametrize(
    ("given", "cell"),
    [
        ("K2Hg3(GeS4)2", "K2Hg3Ge2S8"),  # parentheses flattened
        ("Fe(HO)2", "FeH2O2"),
        ("Na2S2", "Na2S2"),  # the amounts given are kept: a 4-atom cell is asked for
        ("SO2Si", "SiSO2"),  # elements by electronegativity, as MP lists sites
        ("Li0.5CoO2", "Li0.5CoO2"),
    ],
)
def test_a_requested_formula_is_stated_flat_in_the_cell_style(given, cell):
    assert stated_formula(given, "cell") == cell
    assert stated_formula(given, "reduced") == given


def test_an_unreadable_formula_or_style_is_named():
    with pytest.raises(ValueError, match="'Xq2' is not a chemical formula"):
        stated_formula("Xq2", "cell")
    with pytest.raises(ValueError, match="unknown formula style 'full'"):
        stated_formula("NaCl", "full")
