"""The prompt style a model was trained with, saved beside its weights and read back at sampling.

A model trained on cell-style prompts ("Na4Cl4") and asked in the reduced style ("NaCl") is asked
for a formula unit it never learned to read. The style travels with the adapter (and the tiny base),
so sampling asks as training taught unless the user says otherwise.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from xtalgen.errors import InputError
from xtalgen.text.formula_style import FORMULA_STYLES, FormulaStyle

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["STYLE_FILE", "prompt_style_for", "read_prompt_style", "save_prompt_style"]

STYLE_FILE = "xtalgen_prompt_style.json"


def save_prompt_style(folder: Path, formula_style: FormulaStyle) -> None:
    """Record in ``folder`` (an adapter's or a base model's) how its training prompts stated formulas."""
    if formula_style not in FORMULA_STYLES:
        raise InputError(f"formula style {formula_style!r}: use one of {', '.join(FORMULA_STYLES)}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STYLE_FILE).write_text(json.dumps({"formula_style": formula_style}) + "\n")


def read_prompt_style(*folders: Path | None) -> FormulaStyle | None:
    """The style saved in the first of ``folders`` that holds one, or None."""
    for folder in folders:
        path = folder / STYLE_FILE if folder is not None else None
        if path is None or not path.is_file():
            continue
        try:
            style = json.loads(path.read_text())["formula_style"]
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path}: not a prompt style file ({err}); delete it or retrain") from err
        if style not in FORMULA_STYLES:
            raise InputError(f"{path}: unknown formula style {style!r}")
        return style
    return None


def prompt_style_for(requested: FormulaStyle | None, *folders: Path | None) -> FormulaStyle:
    """The style to sample with: the one asked for, else the model's saved one, else the paper's."""
    return requested or read_prompt_style(*folders) or "reduced"
