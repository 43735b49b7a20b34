"""The DFT stage as the workflow runs it: file in, files out, each step safe to repeat."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

from xtalgen.dft.flows import DftSettings
from xtalgen.io import atomic_output

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

__all__ = ["collect_files", "prepare_files", "submit_files"]


def prepare_files(candidates: Path, out_dir: Path, manifest: Path, values: dict[str, Any]) -> pd.DataFrame:
    """Flows and inputs of the first ``dft.max_candidates`` candidates (the most stable first)."""
    from xtalgen.dft.prepare import prepare_flows, read_candidates  # noqa: PLC0415

    settings = DftSettings.from_config(values)
    chosen = read_candidates(candidates)[: values.get("max_candidates")]
    out_dir.mkdir(parents=True, exist_ok=True)
    table = prepare_flows(chosen, out_dir, settings)
    shutil.copyfile(out_dir / "manifest.csv", manifest)
    return table


def submit_files(
    prepared: Path, state: Path, out: Path, *, backend: str, store: str | None, launchpad: str | None
) -> pd.DataFrame:
    """Submit what is not submitted yet; ``out`` lists what happened to every candidate."""
    from xtalgen.dft.state import StateConfig  # noqa: PLC0415
    from xtalgen.dft.submit import submit  # noqa: PLC0415

    if backend == "prepare":
        raise ValueError("dft.backend is prepare: set it to local or fireworks to submit")
    table = submit(prepared, state, StateConfig(backend, store=store, launchpad=launchpad))
    with atomic_output(out) as tmp:
        table.to_csv(tmp, index=False)
    return table


def collect_files(
    state: Path, hull: Path, structures: Path | None, *, out_csv: Path, out_summary: Path, out_png: Path
) -> dict[str, Any]:
    """Collected table, counts and rates, and the E_hull^DFT histogram."""
    from xtalgen.dft.collect import collect, summarize  # noqa: PLC0415
    from xtalgen.prescreen.hull import load_hull  # noqa: PLC0415
    from xtalgen.structures_io import cif_table  # noqa: PLC0415

    table = collect(state, load_hull(hull))
    with atomic_output(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    summary = summarize(table, len(cif_table(structures)) if structures else None)
    with atomic_output(out_summary) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    with atomic_output(out_png) as tmp:
        _plot(table["e_above_hull_dft"].dropna().astype(float), tmp)
    return summary


def _plot(values: pd.Series, path: Path) -> None:
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from xtalgen.dft.collect import METASTABLE_BELOW, STABLE_BELOW  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5, 3.5))
    if len(values):
        ax.hist(values.clip(upper=1.0), bins=30, color="tab:green")
    else:
        ax.text(0.5, 0.5, "no finished DFT calculation yet", ha="center", transform=ax.transAxes)
    ax.axvline(STABLE_BELOW, color="black", linestyle="-", label="stable (< 0)")
    ax.axvline(METASTABLE_BELOW, color="tab:red", linestyle="--", label="metastable (< 0.1)")
    ax.set_xlabel("DFT E_hull (eV/atom, clipped at 1)")
    ax.set_ylabel("candidates")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
