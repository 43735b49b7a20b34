"""Helpers for tests of xtalgen and of code built on it: where the shared reference data lives."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "SHARED_DATA_ENV",
    "SI_MP_GGA_REF_PATHS",
    "SI_MP_GGA_STATIC_ENERGY",
    "atomate2_vasp_reference",
    "fake_vasp",
    "mp20_pilot_dir",
    "shared_data_dir",
]

SHARED_DATA_ENV = "XTALGEN_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$XTALGEN_SHARED_DATA``, defaulting to ``../shared/data`` from the working directory."""
    path = Path(os.environ.get(SHARED_DATA_ENV, "../shared/data")).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"shared test data not found at {path}: set {SHARED_DATA_ENV} to the folder holding "
            "mp_20/, matgl_models/, hull_reference/ and atomate2_vasp_reference/"
        )
    return path


def mp20_pilot_dir() -> Path:
    """The first 1000 rows of each official MP-20 split."""
    return shared_data_dir() / "mp_20" / "pilot_first1000"


def atomate2_vasp_reference() -> Path:
    """atomate2's reference VASP inputs and outputs (``vasp/<folder>/<job>/{inputs,outputs}``)."""
    return shared_data_dir() / "atomate2_vasp_reference" / "vasp"


@contextlib.contextmanager
def fake_vasp(
    ref_paths: dict[str, str], fake_run_vasp_kwargs: dict[str, dict] | None = None
) -> Iterator[None]:
    """A test double for VASP, a licensed code that cannot run here: atomate2's own fake VASP.

    Inside the block, every atomate2 VASP job named in ``ref_paths`` checks its INCAR, KPOINTS,
    POSCAR and POTCAR.spec against the reference inputs and then copies the reference outputs in
    place of running VASP, exactly as atomate2's test suite does.
    """
    import pytest  # noqa: PLC0415
    from atomate2.utils.testing.vasp import monkeypatch_vasp  # noqa: PLC0415

    patches = monkeypatch_vasp(pytest.MonkeyPatch(), atomate2_vasp_reference())
    register = next(patches)
    register(ref_paths, fake_run_vasp_kwargs)
    try:
        yield
    finally:
        next(patches, None)


# atomate2's MP GGA double relax + static of Si, with its expected static energy (eV).
SI_MP_GGA_REF_PATHS = {
    "MP GGA relax 1": "Si_mp_gga_relax/GGA_Relax_1",
    "MP GGA relax 2": "Si_mp_gga_relax/GGA_Relax_2",
    "MP GGA static": "Si_mp_gga_relax/GGA_Static",
}
SI_MP_GGA_STATIC_ENERGY = -10.84060922
