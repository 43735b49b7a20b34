"""The candidates an auditor downloads from the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["export_candidates"]


def export_candidates(metastable: Path, out_dir: Path, top: int) -> int:
    """The ``top`` most stable candidates as one CIF each, named by id, for download from the report."""
    import re  # noqa: PLC0415

    table = pd.read_csv(metastable, keep_default_na=False).head(top)
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in table.to_dict("records"):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(row["id"]))
        (out_dir / f"{name}.cif").write_text(row["cif_relaxed"])
    return len(table)
