"""The evaluation's settings: how a conditional sample is judged and how IPT is measured.

Light to import (no pymatgen), so the workflow and the command line's flags read it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from xtalgen.setting_fields import described

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["EvaluateSettings"]


@dataclass(frozen=True)
class EvaluateSettings:
    """The ``evaluate`` section; IPT's translations and structures are the paper's kind of measure."""

    ehull_tolerance: float = described(
        0.05, "eV/atom within which a conditional sample meets its requested E_hull"
    )
    ipt_structures: int = described(32, "first N readable structures IPT is measured on (0: none)")
    ipt_translations: int = described(8, "translations per structure, the first none")

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> EvaluateSettings:
        """Settings from the workflow's ``evaluate`` section; a key it lacks keeps its default."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})
