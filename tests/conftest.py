from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from pymatgen.core import Structure

from xtalgen.testing import mp20_pilot_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pilot_dir() -> Path:
    return mp20_pilot_dir()


@pytest.fixture(scope="session")
def pilot_train(pilot_dir: Path) -> pd.DataFrame:
    return pd.read_csv(pilot_dir / "train.csv.gz")


@pytest.fixture(scope="session")
def pilot_structures(pilot_dir: Path) -> list[tuple[str, Structure]]:
    """Every structure of the three pilot splits (3000)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for split in ("train", "val", "test"):
            table = pd.read_csv(pilot_dir / f"{split}.csv.gz")
            out.extend(
                (mid, Structure.from_str(cif, fmt="cif"))
                for mid, cif in zip(table.material_id, table.cif, strict=True)
            )
    return out


@pytest.fixture
def nacl() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m",
        [[5.64, 0, 0], [0, 5.64, 0], [0, 0, 5.64]],
        ["Na", "Cl"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
