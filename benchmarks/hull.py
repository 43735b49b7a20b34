"""Build, load and rating time of the reference hull: one hull per chemical system on demand against
pymatgen's PatchedPhaseDiagram over every entry, side by side in one run.

Run: python benchmarks/hull.py [--repeats 3] [--probe 200]. The hull is the embedded config's dataset
hull (the pilot splits plus MP-20's binary and ternary val/test rows, about 15,800 entries); the probe
rates that many of its compounds, each at its own energy and 0.2 eV/atom above it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pymatgen.analysis.phase_diagram import PatchedPhaseDiagram
from pymatgen.entries.computed_entries import ComputedEntry

from xtalgen.hull.reference import dataset_entries, elemental_references, load_hull, save_hull
from xtalgen.prescreen.stage import dataset_tables
from xtalgen.testing import shared_data_dir


class _Clock:
    """Seconds since the last call, per named step."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.start = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.times.setdefault(name, []).append(now - self.start)
        self.start = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe", type=int, default=200)
    args = parser.parse_args()
    shared = shared_data_dir()
    mp20 = shared / "mp_20"
    tables = dataset_tables(
        [mp20 / "pilot_first1000", mp20 / "biternary/val.csv.gz", mp20 / "biternary/test.csv.gz"]
    )
    refs = elemental_references(
        shared / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"
    )
    entries = dataset_entries(tables, refs)
    compounds = [e for e in entries if len(e.composition.elements) > 1]
    picks = np.random.default_rng(0).choice(len(compounds), min(args.probe, len(compounds)), replace=False)
    probe = [
        ComputedEntry(c.composition, c.energy + shift * c.composition.num_atoms)
        for c in (compounds[i] for i in picks)
        for shift in (0.0, 0.2)
    ]
    clock = _Clock()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hull.json.gz"
        for _ in range(args.repeats):
            clock.lap("setup")
            patched = PatchedPhaseDiagram(entries)
            clock.lap("patched: build")
            old = [patched.get_e_above_hull(e, allow_negative=True) for e in probe]
            clock.lap("patched: rate probe")
            save_hull(entries, path)
            clock.lap("per system: check and save")
            hull = load_hull(path)
            clock.lap("per system: load")
            new = [hull.get_e_above_hull(e) for e in probe]
            clock.lap("per system: rate probe (builds each system once)")
            worst = max(worst, float(np.max(np.abs(np.array(old) - np.array(new)))))
    times = {k: v for k, v in clock.times.items() if k != "setup"}
    print(f"{len(entries)} hull entries, {len(probe)} probe entries, medians of {args.repeats}:")
    for name, values in times.items():
        print(f"  {name:50s} {statistics.median(values):7.2f} s")
    patched_total = statistics.median(times["patched: build"])
    per_system = statistics.median(times["per system: check and save"]) + statistics.median(
        times["per system: rate probe (builds each system once)"]
    )
    print(f"build + rate: patched {patched_total:.1f} s, per system {per_system:.1f} s")
    print(f"largest E_hull difference: {worst:.2e} eV/atom")


if __name__ == "__main__":
    main()
