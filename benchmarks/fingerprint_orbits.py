"""Structure fingerprints: one CrystalNN site per symmetry orbit against every site, side by side.

Run: python benchmarks/fingerprint_orbits.py [--n 80] [--repeats 3]. The first --n structures of the
MP-20 pilot test split are fingerprinted both ways in one process, --repeats times each; the script
prints the median seconds of each, their ratio, the sites against the orbits fingerprinted, and the
largest absolute difference between the two mean fingerprints (the workflow keeps the orbit one).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd
from matminer.featurizers.site.fingerprint import CrystalNNFingerprint
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from xtalgen.evaluate.fingerprints import SYMPREC, mean_site_fingerprint
from xtalgen.testing import mp20_pilot_dir


def every_site(structures: list[Structure], site_fp: CrystalNNFingerprint) -> np.ndarray:
    return np.array([np.mean([site_fp.featurize(s, i) for i in range(len(s))], axis=0) for s in structures])


def per_orbit(structures: list[Structure], site_fp: CrystalNNFingerprint) -> np.ndarray:
    return np.array([mean_site_fingerprint(s, site_fp) for s in structures])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    cifs = pd.read_csv(mp20_pilot_dir() / "test.csv.gz")["cif"].head(args.n)
    structures = [Structure.from_str(cif, fmt="cif") for cif in cifs]
    site_fp = CrystalNNFingerprint.from_preset("ops")
    sites = sum(len(s) for s in structures)
    orbits = sum(
        len(SpacegroupAnalyzer(s, symprec=SYMPREC).get_symmetrized_structure().equivalent_indices)
        for s in structures
    )
    times: dict[str, list[float]] = {"every site": [], "one site per orbit": []}
    results = {}
    for _ in range(args.repeats):
        for name, method in (("every site", every_site), ("one site per orbit", per_orbit)):
            start = time.perf_counter()
            results[name] = method(structures, site_fp)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{len(structures)} structures, {sites} sites in {orbits} orbits (symprec {SYMPREC})")
    for name, seconds in medians.items():
        rate = len(structures) / seconds
        print(f"{name}: {seconds:.2f} s median of {args.repeats}, {rate:.1f} structures/s")
    print(f"speed-up: {medians['every site'] / medians['one site per orbit']:.2f}x")
    diff = np.nanmax(np.abs(results["every site"] - results["one site per orbit"]))
    print(f"largest absolute difference between the mean fingerprints: {diff:.1e}")


if __name__ == "__main__":
    main()
