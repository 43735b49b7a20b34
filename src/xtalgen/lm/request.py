"""One sample to draw, apart from the sampler so that infill and sampling both use it without a cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SampleRequest"]


@dataclass(frozen=True)
class SampleRequest:
    """One sample to draw; infill requests carry the structure whose element is replaced."""

    id: str
    task: str
    prompt: str
    conditions: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    source_cif: str | None = None
    masked_element: str | None = None
    # The elements the sample may use: an infill's answers (the paper's constrained infill) or a
    # conditional sample's formula elements (``formula_elements``); None: any allowed element.
    choices: tuple[str, ...] | None = None
