"""The report's inline tables and the progress lines of long jobs."""

from __future__ import annotations

import pandas as pd

from xtalgen.io import Progress
from xtalgen.provenance import candidates_page, html_table


def test_tables_escape_text_and_keep_raw_columns():
    table = pd.DataFrame({"id": ["<b>x</b>"], "value": [float("nan")], "cif": ["<details>ok</details>"]})
    text = html_table(table, "caption & more", raw=("cif",))
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "<details>ok</details>" in text
    assert "caption &amp; more" in text
    assert "<td></td>" in text  # NaN is an empty cell, not "nan"


def test_candidates_page_unfolds_each_cif_in_place():
    metastable = pd.DataFrame(
        {
            "id": ["a"],
            "formula": ["NaCl"],
            "e_above_hull": [0.01],
            "cif_relaxed": ["data_NaCl\n_cell_length_a 5.6"],
        }
    )
    page = candidates_page(metastable, metastable.iloc[0:0])
    assert "<summary>CIF</summary><pre>data_NaCl" in page
    assert "Metastable candidates, most stable first (1)" in page


def test_progress_speaks_at_the_first_step_then_when_due(capsys):
    progress = Progress("steps", 100, every=3600)
    progress.update(1, "loss 2.0")
    progress.update(2)  # not due for an hour
    progress.update(100, force=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "steps: 1 of 100" in lines[0] and "min left; loss 2.0" in lines[0]
    assert "steps: 100 of 100" in lines[1]
