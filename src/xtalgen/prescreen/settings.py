"""The prescreen's settings: what to relax with, how, and which structures are worth relaxing.

Light to import (no matgl, no ASE), so the workflow builds them while it builds the DAG.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PrescreenSettings", "RelaxSettings"]


@dataclass(frozen=True)
class RelaxSettings:
    """The paper's defaults: FIRE with cell relaxation to 0.1 eV/Å, at most 500 steps."""

    fmax: float = 0.1
    steps: int = 500
    max_seconds: float = 300.0
    max_volume_ratio: float = 4.0
    energy_floor: float = -20.0  # eV/atom; MP's lowest energies per atom are about -13


@dataclass(frozen=True)
class PrescreenSettings:
    """What to relax with, and which structures are worth relaxing."""

    model: str
    aggregation: str = "auto"
    relax: RelaxSettings = field(default_factory=RelaxSettings)
    min_sites: int = 2
    max_sites: int | None = 20
    # Worker processes; None: one per core of the job (measured: one thread per small graph is
    # fastest, so cores are better spent on workers than on torch threads).
    workers: int | None = None
    # Cores for the whole shard, shared out among the workers; None: the job's CPU affinity.
    threads: int | None = None

    @classmethod
    def from_config(cls, values: Mapping[str, Any], threads: int | None = None) -> PrescreenSettings:
        """Settings from the flat ``prescreen`` config section (unknown keys are ignored)."""
        relax_keys = ("fmax", "steps", "max_seconds")
        relax = RelaxSettings(**{k: values[k] for k in relax_keys if k in values})
        own = ("model", "aggregation", "min_sites", "max_sites", "workers")
        return cls(relax=relax, threads=threads, **{k: values[k] for k in own if k in values})

    def config_values(self) -> dict[str, Any]:
        """The flat ``prescreen`` keys a shard's relaxations depend on."""
        return {
            "model": self.model,
            "aggregation": self.aggregation,
            "min_sites": self.min_sites,
            "max_sites": self.max_sites,
            "workers": self.workers,
            **{k: getattr(self.relax, k) for k in ("fmax", "steps", "max_seconds")},
        }

    def key(self, cif: str, weights: str) -> str:
        """What a journal record must match to be reused: structure, weights and settings."""
        text = repr((cif, weights, self.aggregation, self.relax, self.min_sites, self.max_sites))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
