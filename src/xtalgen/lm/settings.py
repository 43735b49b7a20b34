"""Sampling settings: one frozen dataclass that holds the defaults and reads the config section.

Light to import (no torch, no transformers), so the workflow builds it while it builds the DAG.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Constraint", "SampleSettings"]

Constraint = Literal["none", "elements", "format"]


@dataclass(frozen=True)
class SampleSettings:
    """Decoding settings; temperature 0.7 is one of the paper's two (its Table 1 also has 1.0)."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 500
    batch_size: int = 32
    max_attempts: int = 3
    seed: int = 0
    constraint: Constraint = "format"
    elements: tuple[str, ...] | None = None
    max_sites: int = 20
    # The element lines of generated crystals (not infill answers) at their own temperature; None:
    # ``temperature`` everywhere, as the paper samples.
    element_temperature: float | None = None

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> SampleSettings:
        """Settings from the workflow's ``sample`` section; a key it lacks keeps its default here."""
        names = [f.name for f in fields(cls)]
        values = {k: section[k] for k in names if k in section}
        if values.get("elements") is not None:
            values["elements"] = tuple(values["elements"])
        return cls(**values)

    def config_values(self) -> dict[str, Any]:
        """The ``sample`` keys these settings stand for."""
        values = asdict(self)
        values["elements"] = None if self.elements is None else list(self.elements)
        return values
