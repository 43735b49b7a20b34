"""The prescreen's settings: what to relax with, how, and which structures are worth relaxing.

Light to import (no matgl, no ASE), so the workflow builds them while it builds the DAG.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xtalgen.setting_fields import described

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["GateSettings", "PrescreenSettings", "RelaxSettings", "SelectionSettings"]


@dataclass(frozen=True)
class RelaxSettings:
    """The paper's defaults: FIRE with cell relaxation to 0.1 eV/Å, at most 500 steps."""

    fmax: float = described(0.1, "FIRE force convergence (eV/Å)")
    steps: int = described(500, "FIRE step limit")
    max_seconds: float = described(300.0, "wall-time limit per structure (s)")
    max_volume_ratio: float = 4.0
    energy_floor: float = -20.0  # eV/atom; MP's lowest energies per atom are about -13


@dataclass(frozen=True)
class PrescreenSettings:
    """What to relax with, and which structures are worth relaxing."""

    model: str = described("M3GNet-MP-2021.2.8-PES", "matgl model folder, or a name matgl loads online")
    aggregation: str = described(
        "auto", "M3GNet message aggregation; auto restores it for pre-matgl-3.0 weights"
    )
    relax: RelaxSettings = field(default_factory=RelaxSettings)
    min_sites: int = described(2, "pre-filter: fewest sites")
    max_sites: int | None = described(20, "pre-filter: most sites")
    # Worker processes; None: one per core of the job (measured: one thread per small graph is
    # fastest, so cores are better spent on workers than on torch threads).
    workers: int | None = described(None, "worker processes (default: one per core)")
    # Cores for the whole shard, shared out among the workers; None: the job's CPU affinity.
    threads: int | None = described(None, "cores in all (default: this process's CPU affinity)")

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


@dataclass(frozen=True)
class GateSettings:
    """The accuracy gate: the potential must reproduce MP-20 ground states before any candidate is rated."""

    validation_size: int = described(30, "ground states measured")
    max_model_error: float = described(0.05, "limit on the median |E_form error| (eV/atom)")

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> GateSettings:
        """Settings from the flat ``prescreen`` config section."""
        return cls(**{k: values[k] for k in ("validation_size", "max_model_error") if k in values})


@dataclass(frozen=True)
class SelectionSettings:
    """Which rated structures are metastable candidates: changing these reruns no relaxation."""

    ehull_max: float = described(0.1, "metastable threshold (eV/atom)")
    keep_flagged: bool = described(
        False,
        "keep flagged structures (no reference compound, far below the hull) in the metastable "
        "selection and the stable counts",
    )

    keep_unconverged: bool = described(
        False, "keep relaxations that did not reach fmax in the metastable selection"
    )

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> SelectionSettings:
        """Settings from the flat ``prescreen`` config section."""
        names = ("ehull_max", "keep_flagged", "keep_unconverged")
        return cls(**{k: values[k] for k in names if k in values})
