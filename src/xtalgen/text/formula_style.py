"""How a conditional prompt states the formula; apart from the prompts so that settings import it cheaply."""

from __future__ import annotations

from typing import Literal

__all__ = ["FORMULA_STYLES", "FormulaStyle"]

FormulaStyle = Literal["reduced", "cell"]
FORMULA_STYLES: tuple[FormulaStyle, ...] = ("reduced", "cell")
