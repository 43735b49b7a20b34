"""Helpers for tests of xtalgen and of code built on it: where the shared reference data lives."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_DATA_ENV", "mp20_pilot_dir", "shared_data_dir"]

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
