"""The prompt style saved with a model, and conditions stated as the model learned them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from xtalgen.errors import InputError
from xtalgen.lm.prompt_style import STYLE_FILE, prompt_style_for, read_prompt_style, save_prompt_style
from xtalgen.lm.sampling import conditional_requests
from xtalgen.lm.stage import conditions_from_structures

if TYPE_CHECKING:
    from pathlib import Path


def _rocksalt() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_the_saved_style_is_read_back_and_a_request_overrides_it(tmp_path: Path):
    adapter, base = tmp_path / "adapter", tmp_path / "base"
    assert prompt_style_for(None, adapter, base) == "reduced"  # nothing saved: the paper's
    save_prompt_style(base, "cell")
    assert read_prompt_style(adapter, base) == "cell"  # the first folder that holds one
    save_prompt_style(adapter, "reduced")
    assert prompt_style_for(None, adapter, base) == "reduced"
    assert prompt_style_for("cell", adapter, base) == "cell"
    with pytest.raises(InputError, match="formula style"):
        save_prompt_style(adapter, "full")
    (adapter / STYLE_FILE).write_text("{not json")
    with pytest.raises(InputError, match=STYLE_FILE):
        read_prompt_style(adapter)


def test_conditions_from_structures_state_the_cell_under_cell(tmp_path: Path):
    cell = _rocksalt()  # the conventional cell: 8 atoms, four formula units
    path = tmp_path / "test.csv"
    row = {"id": ["mp-22862"], "formula": ["NaCl"], "spacegroup": [225], "cif": [cell.to(fmt="cif")]}
    pd.DataFrame(row).to_csv(path, index=False)
    assert conditions_from_structures(path, None)["formula"].tolist() == ["NaCl"]
    stated = conditions_from_structures(path, None, "cell")
    assert stated["formula"].tolist() == ["Na4Cl4"]
    # The request keeps the cell's amounts, and its prompt asks for the 8-atom cell.
    (request,) = conditional_requests(stated, 1, formula_style="cell")
    assert request.conditions["formula"] == "Na4Cl4"
    assert "Na4Cl4" in request.prompt


def test_a_cell_that_cannot_be_read_names_its_row(tmp_path: Path):
    path = tmp_path / "test.csv"
    pd.DataFrame({"id": ["bad-1"], "formula": ["NaCl"], "cif": ["data_x\n_cell_length_a nan"]}).to_csv(
        path, index=False
    )
    with pytest.raises(InputError, match="bad-1"):
        conditions_from_structures(path, None, "cell")
