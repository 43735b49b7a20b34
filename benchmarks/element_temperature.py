"""What a cooler element line buys: unconditional validity and elements per crystal, and formula hits.

Run: python benchmarks/element_temperature.py --base MODEL [--adapter ADAPTER] --conditions TABLE
[--samples 128] [--element-temperatures 1.0 0.7 0.5 0.3] [--formula-style cell]. For each element
temperature, `xtalgen sample run` draws --samples unconditional crystals and --rows x --per-row
conditional ones (formula, space group and E_hull stated) under the format constraint at T 1.0, top_p
1.0, one seed for all, and prints over the first draws: the share that parsed, CDVAE's structural and
compositional validity (over all unconditional samples), the median number of elements (MP-20: 3), and
the conditional samples whose reduced formula is the requested one. 1.0 is one temperature everywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition

from xtalgen.evaluate.validity import composition_valid, structure_valid
from xtalgen.structures_io import parse_cif

BIN = Path(sys.executable).parent


def draw(args: argparse.Namespace, element_temperature: float, conditions: Path, out: Path) -> pd.DataFrame:
    command = [str(BIN / "xtalgen"), "sample", "run", "--base", str(args.base), "--out", str(out)]
    command += ["--adapter", str(args.adapter)] if args.adapter else []
    command += ["--unconditional", str(args.samples), "--conditions", str(conditions)]
    command += ["--conditions-per-row", str(args.per_row), "--max-attempts", "1", "--seed", str(args.seed)]
    command += ["--temperature", "1.0", "--top-p", "1.0", "--element-temperature", str(element_temperature)]
    command += ["--formula-style", args.formula_style]
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return pd.read_csv(out, keep_default_na=False)


def summarize(table: pd.DataFrame) -> dict[str, float | int | None]:
    first = table[table["attempt"] == 1]
    free = first[first["task"] == "unconditional"]
    structures = [parse_cif(cif)[0] if cif else None for cif in free["cif"]]
    parsed = [s for s in structures if s is not None]
    n = len(free)
    conditional = first[first["task"] == "conditional"]
    hits = 0
    for _, row in conditional.iterrows():
        wanted = Composition(json.loads(row["conditions"])["formula"]).reduced_formula
        got = parse_cif(row["cif"])[0] if row["cif"] else None
        hits += got is not None and got.composition.reduced_formula == wanted
    return {
        "parsed": round(len(parsed) / n, 3),
        "struct": round(sum(map(structure_valid, parsed)) / n, 3),
        "comp": round(sum(composition_valid(s.composition) for s in parsed) / n, 3),
        "elements": statistics.median(len(s.composition.elements) for s in parsed) if parsed else None,
        "hits": hits,
        "conditional": len(conditional),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--conditions", type=Path, required=True, help="structures table (id, formula, ...)")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--per-row", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--element-temperatures", type=float, nargs="+", default=[1.0, 0.7, 0.5, 0.3])
    parser.add_argument(
        "--formula-style", choices=["reduced", "cell"], default="reduced", help="as the base was trained"
    )
    args = parser.parse_args()
    table = pd.read_csv(args.conditions).head(args.rows)
    columns = [c for c in ("id", "formula", "spacegroup", "e_above_hull") if c in table]
    print(f"{args.samples} unconditional and {len(table)} x {args.per_row} conditional samples, first draws")
    print("element T | parsed | struct | comp | median elements | formula met")
    with tempfile.TemporaryDirectory() as tmp:
        conditions = Path(tmp) / "conditions.csv"
        table[columns].to_csv(conditions, index=False)
        for element_temperature in args.element_temperatures:
            row = summarize(draw(args, element_temperature, conditions, Path(tmp) / "samples.csv"))
            print(
                f"{element_temperature} | {row['parsed']} | {row['struct']} | {row['comp']} | "
                f"{row['elements']} | {row['hits']} of {row['conditional']}"
            )


if __name__ == "__main__":
    main()
