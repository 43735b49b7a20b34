"""Fingerprints per second with 1 and 2 workers, and the projected time to evaluate 10,000 samples.

Run: python benchmarks/evaluate.py [--n 80]. MP-20 pilot test structures stand in for samples; the
projection adds the per-sample cost of validity (SMACT) and novelty (StructureMatcher against the
pilot train split, grouped by formula), with the reference fingerprints cached as the workflow does.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd
from pymatgen.core import Structure

from xtalgen.evaluate.fingerprints import fingerprint_cifs
from xtalgen.evaluate.metrics import novel_mask
from xtalgen.evaluate.validity import composition_valid, structure_valid
from xtalgen.testing import mp20_pilot_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=80)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cifs = list(pd.read_csv(mp20_pilot_dir() / "test.csv.gz")["cif"].head(args.n))
    rates = {}
    for workers in (1, 2):
        start = time.perf_counter()
        fingerprint_cifs(cifs, workers=workers, desc=f"{workers} worker(s)")
        seconds = time.perf_counter() - start
        rates[workers] = len(cifs) / seconds
        print(f"{workers} worker(s): {rates[workers]:.1f} fingerprints/s ({len(cifs)} in {seconds:.1f} s)")
    print(f"speed-up: {rates[2] / rates[1]:.2f}x")

    structures = [Structure.from_str(c, fmt="cif") for c in cifs]
    train = [Structure.from_str(c, fmt="cif") for c in pd.read_csv(mp20_pilot_dir() / "train.csv.gz")["cif"]]
    start = time.perf_counter()
    for s in structures:
        structure_valid(s)
        composition_valid(s.composition)
    validity = (time.perf_counter() - start) / len(structures)
    start = time.perf_counter()
    novel_mask(structures, train)
    novelty = (time.perf_counter() - start) / len(structures)
    print(f"validity {validity * 1000:.1f} ms/sample, novelty {novelty * 1000:.1f} ms/sample")
    total = 10_000 * (1 / rates[2] + validity + novelty)
    print(f"projected 10,000 samples on 2 cores, references cached: {total / 60:.1f} min (goal < 20)")


if __name__ == "__main__":
    main()
