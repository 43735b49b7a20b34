"""Relaxations per minute with 1 and 2 workers on MP-20 cells (up to 20 atoms), and time per step.

Run: python benchmarks/prescreen.py [--n 12]. Every configuration relaxes the same structures in one
run; they are rattled MP-20 pilot cells, so that every relaxation takes real steps. Workers get one
torch thread each, so the ratio measures the worker scaling; the third configuration (1 worker with
2 threads) shows what torch's own threading gives on the same 2 cores. Wall time includes each
worker's start (a spawned process imports torch and matgl and loads the model, about 10 s), as a shard
job pays it once; the steady-state figure leaves it out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from xtalgen.prescreen.shard import PrescreenSettings, prescreen
from xtalgen.prescreen.stage import build_hull_file
from xtalgen.testing import mp20_pilot_dir, shared_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=16)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    shared = shared_data_dir()
    model = shared / "matgl_models" / "M3GNet-MP-2021.2.8-PES"
    table = pd.read_csv(mp20_pilot_dir() / "test.csv.gz").sample(args.n, random_state=0)
    rng = np.random.default_rng(0)
    inputs = []
    for material_id, cif in zip(table.material_id, table.cif, strict=True):
        structure = Structure.from_str(cif, fmt="cif")
        structure.perturb(0.25, 0.0)
        structure.scale_lattice(structure.volume * float(rng.uniform(0.9, 1.1)))
        inputs.append((material_id, structure, None))
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        hull = tmp / "hull.json.gz"
        refs = shared / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"
        build_hull_file(hull, dataset=[mp20_pilot_dir()], elemental_refs=refs)
        rates, steady = {}, {}
        for workers, threads in ((1, 1), (2, 2), (1, 2)):
            settings = PrescreenSettings(model=str(model), workers=workers, threads=threads)
            name = f"{workers}w{threads}t"
            start = time.perf_counter()
            result = prescreen(inputs, hull, tmp / f"{name}.csv", tmp / f"{name}.jsonl", settings)
            wall = time.perf_counter() - start
            rates[workers, threads] = len(result) / wall * 60
            ok = result[result.status == "ok"]
            per_step = (ok.seconds / ok.n_steps.clip(lower=1)).median()
            # Once every worker has its model loaded: workers x relaxations per worker-minute.
            steady[workers, threads] = workers * 60 / result.seconds.mean()
            print(
                f"{workers} worker(s) x {threads // workers} thread(s): {rates[workers, threads]:.1f} "
                f"relaxations/min ({len(ok)}/{len(result)} ok, median {ok.n_steps.median():.0f} "
                f"steps, median {per_step * 1000:.0f} ms/step, wall {wall:.1f} s; "
                f"{steady[workers, threads]:.1f}/min once the workers are loaded)"
            )
    print(f"speed-up 2 workers / 1 worker (1 thread each): {rates[2, 2] / rates[1, 1]:.2f}x (goal >= 1.8x)")
    print(f"speed-up 2 workers / 1 worker with 2 threads: {rates[2, 2] / rates[1, 2]:.2f}x")
    print(f"steady-state speed-up 2 workers / 1 worker: {steady[2, 2] / steady[1, 1]:.2f}x")


if __name__ == "__main__":
    main()
