"""Uniqueness: pymatgen's StructureMatcher.group_structures against the hand-written first-match loop
it replaced, side by side in one run, with the masks compared.

Run: python benchmarks/uniqueness.py [--n 200] [--repeats 3]. The structures are the first N pilot test
structures, each twice: once as written and once translated and with its sites shuffled, so half of
the set repeats the other half.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np
import pandas as pd
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from xtalgen.evaluate.metrics import unique_mask
from xtalgen.testing import shared_data_dir


def loop_mask(structures: list[Structure]) -> np.ndarray:
    """The hand-written loop: keep a structure unless it fits one kept earlier of its formula."""
    matcher = StructureMatcher()
    kept: dict[str, list[Structure]] = defaultdict(list)
    mask = []
    for structure in structures:
        formula = structure.composition.reduced_formula
        seen = any(matcher.fit(structure, other) for other in kept[formula])
        if not seen:
            kept[formula].append(structure)
        mask.append(not seen)
    return np.array(mask, dtype=bool)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    table = pd.read_csv(shared_data_dir() / "mp_20" / "pilot_first1000" / "test.csv.gz").head(args.n)
    rng = np.random.default_rng(0)
    originals = [Structure.from_str(cif, fmt="cif") for cif in table["cif"]]
    copies = []
    for structure in originals:
        moved = structure.copy()
        moved.translate_sites(list(range(len(moved))), rng.random(3), frac_coords=True)
        copies.append(Structure.from_sites([moved[i] for i in rng.permutation(len(moved))]))
    structures = originals + copies
    times: dict[str, list[float]] = {"loop": [], "group_structures": []}
    masks = {}
    for _ in range(args.repeats):
        for name, function in (("loop", loop_mask), ("group_structures", unique_mask)):
            start = time.perf_counter()
            masks[name] = function(structures)
            times[name].append(time.perf_counter() - start)
    loop, group = (statistics.median(times[k]) for k in ("loop", "group_structures"))
    print(f"{len(structures)} structures ({args.n} distinct, each twice), medians of {args.repeats}")
    print(f"hand-written loop:   {loop:.2f} s  ({len(structures) / loop:.0f} structures/s)")
    print(f"group_structures:    {group:.2f} s  ({len(structures) / group:.0f} structures/s)")
    print(f"loop / group_structures: {loop / group:.2f}x")
    same = bool((masks["loop"] == masks["group_structures"]).all())
    print(
        f"unique: loop {int(masks['loop'].sum())}, group_structures {int(masks['group_structures'].sum())}; "
        f"masks identical: {same}"
    )


if __name__ == "__main__":
    main()
