"""Throughput of the data stage on the MP-20 pilot files, and the projected time for all of MP-20.

Run: python benchmarks/data_prep.py [--repeats 3]. Prints medians; each stage is timed in one run,
side by side, on the same 3000 structures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.testing import mp20_pilot_dir
from xtalgen.text.codec import encode
from xtalgen.text.prompts import make_record

if TYPE_CHECKING:
    from collections.abc import Callable

MP20_SIZE = 45_231
SPLITS = ("train", "val", "test")


def median_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pilot = mp20_pilot_dir()
    tables = [pd.read_csv(pilot / f"{split}.csv.gz") for split in SPLITS]
    cifs = [cif for table in tables for cif in table.cif]
    n = len(cifs)
    warnings.simplefilter("ignore")

    structures: list[Structure] = []

    def parse() -> None:
        structures[:] = [Structure.from_str(c, fmt="cif") for c in cifs]

    parse_rate = median_rate(parse, n, args.repeats)
    encode_rate = median_rate(lambda: [encode(s) for s in structures], n, args.repeats)
    props = {"formula": "X", "spacegroup": 1, "band_gap": 0.0}
    rng = np.random.default_rng(0)
    prompt_rate = median_rate(
        lambda: [make_record(s, props, rng, record_id="x") for s in structures], n, args.repeats
    )
    print(f"structures: {n} (MP-20 pilot, 3 splits)")
    print(f"parse CIF (pymatgen), 1 process : {parse_rate:8.0f} structures/s")
    print(f"encode crystal string, 1 process: {encode_rate:8.0f} structures/s")
    print(f"build prompt record, 1 process  : {prompt_rate:8.0f} structures/s")

    stage_rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            settings = PrepareSettings(workers=workers)

            def stage(settings: PrepareSettings = settings) -> None:
                for split in SPLITS:
                    prepare_split(pilot / f"{split}.csv.gz", split, Path(tmp) / split, settings)

            stage_rates[workers] = median_rate(stage, n, args.repeats)
            projected = MP20_SIZE / stage_rates[workers]
            print(
                f"whole stage (read, parse, encode, prompts, write), {workers} worker(s): "
                f"{stage_rates[workers]:8.0f} structures/s -> all of MP-20 ({MP20_SIZE}) "
                f"in {projected:5.1f} s"
            )
    print(f"speed-up 2 workers / 1 worker: {stage_rates[2] / stage_rates[1]:.2f}x")
    verdict = "meets" if MP20_SIZE / stage_rates[2] < 60 else "misses"
    print(f"goal: all of MP-20 in under 60 s on 2 cores -> {verdict}")


if __name__ == "__main__":
    main()
