"""The data stage's settings: one frozen dataclass that holds the defaults and reads the config section.

Light to import (no pymatgen, no pandas), so the workflow builds it while it builds the DAG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xtalgen.errors import InputError
from xtalgen.setting_fields import described
from xtalgen.text.formula_style import FORMULA_STYLES, FormulaStyle

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PrepareSettings"]


@dataclass(frozen=True)
class PrepareSettings:
    """Options of the data stage; the defaults are the paper's choices."""

    seed: int = described(0, "seed of tasks, conditions, masks, translations")
    copies: int = described(1, "prompt records per structure of augmented splits")
    translate: bool = described(True, "random-translation augmentation")
    augment_splits: tuple[str, ...] = described(("train",), "splits that get copies and translations")
    infill_fraction: float = described(1.0 / 3.0, "share of infill prompts")
    # How conditional prompts state the formula (xtalgen.text.prompts.FormulaStyle).
    formula_style: FormulaStyle = "reduced"
    strict: bool = described(False, "fail on the first bad row instead of skipping it")
    max_rows: int | None = described(None, "read only the first N rows of each split (default: all)")
    workers: int = described(1, "worker processes")

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise InputError(f"copies must be at least 1, got {self.copies}")
        if not 0.0 <= self.infill_fraction <= 1.0:
            raise InputError(f"infill_fraction must be in [0, 1], got {self.infill_fraction}")
        if self.formula_style not in FORMULA_STYLES:
            raise InputError(
                f"formula_style must be one of {', '.join(FORMULA_STYLES)}, got {self.formula_style!r}"
            )
        if self.workers < 1:
            raise InputError(f"workers must be at least 1, got {self.workers}")

    @classmethod
    def from_config(cls, section: Mapping[str, Any], workers: int = 1) -> PrepareSettings:
        """Settings from the workflow's ``data`` section; a key it lacks keeps its default here."""
        augment = section.get("augment") or {}
        given = {
            "seed": section.get("seed"),
            "copies": augment.get("copies"),
            "translate": augment.get("translate"),
            "augment_splits": tuple(augment["splits"]) if "splits" in augment else None,
            "infill_fraction": section.get("infill_fraction"),
            "formula_style": section.get("formula_style"),
            "strict": section.get("strict"),
        }
        values = {k: v for k, v in given.items() if v is not None}
        return cls(**values, max_rows=section.get("max_rows"), workers=workers)

    def config_values(self) -> dict[str, Any]:
        """The ``data`` keys these settings stand for, as the workflow's section writes them."""
        return {
            "seed": self.seed,
            "augment": {
                "copies": self.copies,
                "translate": self.translate,
                "splits": list(self.augment_splits),
            },
            "infill_fraction": self.infill_fraction,
            "formula_style": self.formula_style,
            "strict": self.strict,
            "max_rows": self.max_rows,
        }
