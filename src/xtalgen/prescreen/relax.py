"""One structure relaxed with matgl's ASE Relaxer, guarded so that a bad structure fails alone.

The guard runs before every optimizer step: it stops a relaxation that has run out of wall time, whose
energy or forces became NaN, whose volume blew up or collapsed, or whose energy fell below any
physical value (a sign the potential left its training domain).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms as AseAtoms
from ase.optimize import FIRE

from xtalgen.errors import XtalgenError
from xtalgen.prescreen.settings import RelaxSettings

if TYPE_CHECKING:
    from matgl.apps.pes import Potential
    from pymatgen.core import Structure

__all__ = ["RelaxResult", "RelaxSettings", "RelaxationAbortedError", "relax"]


@dataclass(frozen=True)
class RelaxResult:
    """The relaxed structure and its total energy (eV), with the step count."""

    structure: Structure
    energy: float
    n_steps: int
    # Whether FIRE's own test passed on the last forces (cell degrees of freedom included), and the
    # largest of those forces (eV/Å): the step count says nothing, since a run can converge on its
    # last step.
    converged: bool
    seconds: float
    max_force: float = math.nan


class RelaxationAbortedError(XtalgenError, RuntimeError):
    """The guard stopped a relaxation; the message is the reason recorded for the structure."""


def _atoms_of(optimizable: object) -> AseAtoms:
    """The Atoms under ASE's optimizable wrapper and cell filter."""
    obj = optimizable
    for _ in range(4):
        if isinstance(obj, AseAtoms):
            return obj
        obj = getattr(obj, "filterobj", None) or getattr(obj, "atoms", None)
    raise TypeError(f"no Atoms found under {type(optimizable).__name__}")


def _guarded_fire(
    settings: RelaxSettings, volume0: float, n_atoms: int, last: dict[str, float | bool]
) -> type[FIRE]:
    """FIRE with the guard before each step; ``last`` receives each convergence test's verdict."""
    start = time.perf_counter()

    class GuardedFIRE(FIRE):
        def gradient_converged(self, gradient: np.ndarray) -> bool:
            verdict = bool(super().gradient_converged(gradient))
            last["converged"] = verdict
            last["max_force"] = float(self.optimizable.gradient_norm(gradient))
            return verdict

        def step(self, *args: object, **kwargs: object) -> None:
            atoms = _atoms_of(self.optimizable)
            elapsed = time.perf_counter() - start
            if elapsed > settings.max_seconds:
                raise RelaxationAbortedError(
                    f"wall-time limit of {settings.max_seconds:g} s reached after {self.nsteps} steps"
                )
            energy = atoms.get_potential_energy()
            forces = atoms.get_forces()
            if not math.isfinite(energy) or not np.isfinite(forces).all():
                raise RelaxationAbortedError(f"NaN energy or force at step {self.nsteps}")
            if energy / n_atoms < settings.energy_floor:
                raise RelaxationAbortedError(
                    f"energy {energy / n_atoms:.2f} eV/atom below the physical floor of "
                    f"{settings.energy_floor:g} at step {self.nsteps}"
                )
            ratio = atoms.get_volume() / volume0
            if not 1 / settings.max_volume_ratio < ratio < settings.max_volume_ratio:
                raise RelaxationAbortedError(
                    f"volume changed by a factor of {ratio:.2f} at step {self.nsteps}"
                )
            super().step(*args, **kwargs)

    return GuardedFIRE


def relax(structure: Structure, potential: Potential, settings: RelaxSettings) -> RelaxResult:
    """Relax positions and cell; raises :class:`RelaxationAbortedError` when the guard stops it."""
    from matgl.ext.ase import Relaxer  # noqa: PLC0415 - heavy import, only where relaxing

    last: dict[str, float | bool] = {"converged": False, "max_force": math.nan}
    optimizer = _guarded_fire(settings, structure.volume, len(structure), last)
    relaxer = Relaxer(potential, optimizer=optimizer, relax_cell=True)
    start = time.perf_counter()
    result = relaxer.relax(structure, fmax=settings.fmax, steps=settings.steps)
    trajectory = result["trajectory"]
    energy = float(trajectory.energies[-1])
    if not math.isfinite(energy):
        raise RelaxationAbortedError("NaN energy after the last step")
    n_steps = max(len(trajectory.energies) - 2, 0)
    return RelaxResult(
        structure=result["final_structure"],
        energy=energy,
        n_steps=n_steps,
        converged=bool(last["converged"]),
        seconds=time.perf_counter() - start,
        max_force=float(last["max_force"]),
    )
