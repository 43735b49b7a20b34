"""The paper's three training tasks: unconditional generation, conditional generation and infill.

The wording follows the paper's prompts so that adapters trained here and there read the same text.
Prompt and completion stay apart: the fine-tuning stage decides whether the loss covers the prompt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from xtalgen.errors import InputError
from xtalgen.text.codec import MASK_TOKEN, element_lines, encode
from xtalgen.text.formula_style import FORMULA_STYLES, FormulaStyle

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from numpy.typing import ArrayLike
    from pymatgen.core import Structure

__all__ = [
    "CONDITION_KEYS",
    "FORMULA_STYLES",
    "GENERATION_INSTRUCTION",
    "INFILL_HEADER",
    "INFILL_INSTRUCTION",
    "FormulaStyle",
    "PromptRecord",
    "Task",
    "cell_formula",
    "generation_prompt",
    "infill_prompt",
    "make_record",
    "mask_element",
    "stated_formula",
]

Task = Literal["unconditional", "conditional", "infill"]
# How a conditional prompt states the formula. reduced: the dataset's reduced formula as written
# ("Nd(Al2Cu)4"), as the paper prompts. cell: the cell's own contents in the order of its sites, with
# no parentheses ("NdAl8Cu4" for a 13-site cell, "Na2S2" for a 4-site one), so the prompt fixes the
# number of atoms, as a crystal structure prediction asks, and each element's count stands written
# beside it, to be copied rather than inferred from a multiple the prompt never gives.

GENERATION_HEADER = "Below is a description of a bulk material. "
GENERATION_INSTRUCTION = (
    "Generate a description of the lengths and angles of the lattice vectors "
    "and then the element type and coordinates for each atom within the lattice:\n"
)
INFILL_HEADER = (
    "Below is a partial description of a bulk material where one "
    f'element has been replaced with the string "{MASK_TOKEN}":\n'
)
INFILL_INSTRUCTION = f"Generate an element that could replace {MASK_TOKEN} in the bulk material:\n"

# Condition key -> sentence stem, in the order the sentences appear in a prompt.
CONDITION_KEYS: dict[str, str] = {
    "formula": "The chemical formula is",
    "formation_energy_per_atom": "The formation energy per atom is",
    "band_gap": "The band gap is",
    "e_above_hull": "The energy above the convex hull is",
    "spacegroup": "The spacegroup number is",
}
_FLOAT_KEYS = {"formation_energy_per_atom", "band_gap", "e_above_hull"}


@dataclass(frozen=True)
class PromptRecord:
    """One training example; ``completion`` is what the model must learn to write."""

    id: str
    copy: int
    task: Task
    prompt: str
    completion: str
    conditions: dict[str, Any] = field(default_factory=dict)
    masked_element: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON lines."""
        return asdict(self)


def _format_condition(key: str, value: Any) -> str:
    if key not in CONDITION_KEYS:
        raise KeyError(f"unknown condition {key!r}; known: {', '.join(CONDITION_KEYS)}")
    if key in _FLOAT_KEYS:
        value = round(float(value), 4)
    elif key == "spacegroup":
        value = int(value)
    return f"{CONDITION_KEYS[key]} {value}. "


def generation_prompt(conditions: Mapping[str, Any] | None = None) -> str:
    """The generation prompt, conditional when ``conditions`` is not empty.

    Conditions are written in the fixed order of :data:`CONDITION_KEYS`, so one condition set always
    gives one prompt (the sampler builds the same text from a conditions table).
    """
    conditions = dict(conditions or {})
    if conditions and "formula" not in conditions:
        raise InputError("a conditional prompt always states the formula")
    text = GENERATION_HEADER
    for key in CONDITION_KEYS:
        if key in conditions:
            text += _format_condition(key, conditions[key])
    unknown = set(conditions) - set(CONDITION_KEYS)
    if unknown:
        raise KeyError(f"unknown conditions {sorted(unknown)}; known: {', '.join(CONDITION_KEYS)}")
    return text + GENERATION_INSTRUCTION


def _written(pairs: list[tuple[str, float]]) -> str:
    parts = []
    for symbol, amount in pairs:
        count = "" if amount == 1 else (str(int(amount)) if float(amount).is_integer() else f"{amount:g}")
        parts.append(symbol + count)
    return "".join(parts)


def cell_formula(structure: Structure) -> str:
    """The cell's formula, elements in the order its sites first list them ("Li2Co2O4")."""
    counts: dict[str, int] = {}
    for site in structure:
        counts[site.specie.symbol] = counts.get(site.specie.symbol, 0) + 1
    return _written(list(counts.items()))


def stated_formula(formula: str, style: FormulaStyle) -> str:
    """The formula as a prompt of ``style`` states it: as given (reduced), or flat with the amounts given.

    A cell-style prompt keeps the amounts a user wrote ("Na2S2" asks for a 4-atom cell, "NaS" for a
    2-atom one) and writes them without parentheses, elements by electronegativity as MP's sites come.
    """
    if style == "reduced":
        return formula
    if style != "cell":
        raise InputError(f"unknown formula style {style!r}; known: {', '.join(FORMULA_STYLES)}")
    from pymatgen.core import Composition  # noqa: PLC0415

    try:
        composition = Composition(str(formula))
    except (ValueError, KeyError) as err:
        raise InputError(f"formula {formula!r} is not a chemical formula ({err})") from err
    from pymatgen.core import Element  # noqa: PLC0415

    symbols = [str(element) for element in composition.elements]
    if not symbols or not all(Element.is_valid_symbol(symbol) for symbol in symbols):
        raise InputError(f"formula {formula!r} is not a chemical formula (elements read: {symbols})")
    ordered = sorted(composition.items(), key=lambda item: (item[0].X, item[0].symbol))
    return _written([(element.symbol, amount) for element, amount in ordered])


def mask_element(crystal_text: str, element: str) -> str:
    """Replace the element line of every site of ``element`` with the mask token.

    Works on whole element lines, never substrings: masking "S" leaves "Si" alone.
    """
    lines = crystal_text.split("\n")
    n_sites = (len(lines) - 2) // 2
    hits = 0
    for i in element_lines(n_sites):
        if lines[i] == element:
            lines[i] = MASK_TOKEN
            hits += 1
    if not hits:
        raise InputError(f"element {element!r} is not in the crystal string")
    return "\n".join(lines)


def infill_prompt(masked_text: str) -> str:
    """The infill prompt around a crystal string that already carries the mask."""
    return INFILL_HEADER + masked_text + "\n" + INFILL_INSTRUCTION


def _choose_conditions(properties: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A random subset of the available conditions, plus the formula whenever any is chosen."""
    available = [k for k in CONDITION_KEYS if properties.get(k) is not None]
    if "formula" not in available:
        return {}
    n = int(rng.integers(0, len(available) + 1))
    if n == 0:
        return {}
    chosen = set(rng.choice(available, size=n, replace=False).tolist()) | {"formula"}
    return {k: properties[k] for k in CONDITION_KEYS if k in chosen}


def make_record(
    structure: Structure,
    properties: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    record_id: str,
    copy: int = 0,
    infill_fraction: float = 1.0 / 3.0,
    translation: ArrayLike | None = None,
    formula_style: FormulaStyle = "reduced",
) -> PromptRecord:
    """Draw one task for one structure.

    ``properties`` holds the condition values by :data:`CONDITION_KEYS` name; a missing or ``None``
    value is never used as a condition. ``formula_style`` says how a conditional prompt states the
    formula (:data:`FormulaStyle`).
    """
    text = encode(structure, translation=translation)
    if rng.random() < infill_fraction:
        element = str(rng.choice(sorted({site.specie.symbol for site in structure})))
        return PromptRecord(
            id=record_id,
            copy=copy,
            task="infill",
            prompt=infill_prompt(mask_element(text, element)),
            completion=element,
            masked_element=element,
        )
    conditions = _choose_conditions(properties, rng)
    if formula_style == "cell" and "formula" in conditions:
        conditions["formula"] = cell_formula(structure)
    return PromptRecord(
        id=record_id,
        copy=copy,
        task="conditional" if conditions else "unconditional",
        prompt=generation_prompt(conditions),
        completion=text,
        conditions=conditions,
    )
