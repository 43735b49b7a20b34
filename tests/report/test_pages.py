"""The report's inline tables and the progress lines of long jobs."""

from __future__ import annotations

import pandas as pd

from xtalgen.io import Progress
from xtalgen.report.html import html_table
from xtalgen.report.pages import candidates_page, conditional_page, headline_rst


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


def test_conditional_page_counts_hits_over_the_rows_it_came_from(tmp_path):
    rows = pd.DataFrame(
        {
            "id": ["c-0", "c-1", "c-2"],
            "formula": ["GaTe", "CuNi", "NaCl"],
            "formula_written": ["Ga3Te", "CuNi", None],
            "formula_met": [False, True, False],
            "spacegroup": [194, 65, None],
            "spacegroup_found": [12, 65, None],
        }
    )
    rows.to_csv(tmp_path / "c.csv", index=False)
    page = conditional_page(pd.read_csv(tmp_path / "c.csv"))  # read back, as the report reads it
    assert "formula met in 1 of 3" in page
    assert "<td>Ga3Te</td>" in page and "nan" not in page
    two = conditional_page(rows, top=2)
    assert "first 2 shown" in two and "<td>CuNi</td>" in two  # formulas met come first


def test_progress_speaks_at_the_first_step_then_when_due(capsys):
    progress = Progress("steps", 100, every=3600)
    progress.update(1, "loss 2.0")
    progress.update(2)  # not due for an hour
    progress.update(100, force=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "steps: 1 of 100 after 00:00" in lines[0] and "left, loss 2.0" in lines[0]
    assert "steps: 100 of 100" in lines[1]
    assert all(line.startswith("[") and "\r" not in line for line in lines)


def test_headline_names_what_each_number_counts():
    metrics = {
        "by_task": {
            "unconditional": {
                "n_samples": 16,
                "structural_validity": 0.75,
                "compositional_validity": 0.8125,
                "median_elements": 3.0,
                "m3gnet_metastable": 2,
                "n_rated": 5,
            },
            "conditional": {
                "formula_accuracy": 0.25,
                "elements_accuracy": 0.5,
                "formula_samples": 4,
                "spacegroup_accuracy": 0.0,
                "spacegroup_samples": 4,
            },
        }
    }
    log = pd.DataFrame({"step": [0, 10, 60], "loss": [None, 0.9, 0.7], "val_loss": [0.81, None, 0.72]})
    text = headline_rst(metrics, log)
    assert "Unconditional (16 samples): structural validity 0.75 of 16" in text
    assert "median 3.0 elements" in text and "metastable (E_hull < 0.1 eV/atom) 2 of 5 rated" in text
    assert "formula met in 1 of 4 (25.0%; 95% Wilson interval 4.6 to 69.9%) samples" in text
    assert "the formula's elements, whatever their counts, in 2 of 4 (50.0%" in text
    assert "any element allowed" in text
    rare = {"by_task": {"conditional": {"formula_accuracy": 2 / 512, "formula_samples": 512}}}
    assert "formula met in 2 of 512 (0.4%; 95% Wilson interval 0.1 to 1.4%)" in headline_rst(rare, None)
    held = headline_rst(metrics, log, formula_elements_held=True)
    assert "held to its formula's elements" in held and "any element allowed" not in held
    assert "LoRA lowered the validation loss from 0.810 (step 0) to 0.720 (step 60)" in text
    worse = log.assign(val_loss=[0.70, None, 0.72])
    assert "LoRA did not lower" in headline_rst(metrics, worse)
    cooled_lines = {"temperature": 1.0, "top_p": 1.0, "element_temperature": 0.5}
    cooled = headline_rst(metrics, log, decoding=cooled_lines)
    assert "Unconditional (16 samples, T 1.0, top_p 1.0, element lines at T 0.5): structural" in cooled
    one_temperature = {"temperature": 0.7, "top_p": 0.9, "element_temperature": None}
    one = headline_rst(metrics, log, decoding=one_temperature)
    assert "(16 samples, T 0.7, top_p 0.9): structural" in one
    assert "no validation loss was logged" in headline_rst(metrics, None)
    assert all(line.startswith("- ") for line in text.splitlines())  # reStructuredText bullets
