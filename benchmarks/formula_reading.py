"""Does a base read the formula of a conditional prompt? Probe and sampled hits, per model.

Run: python benchmarks/formula_reading.py --tokenizer TOK --conditions structures.csv --rows 16
MODEL [MODEL ...] (each MODEL a model folder, or FOLDER:ADAPTER for a base with a LoRA adapter).

Probe: for each of the first --rows formulas of the conditions table, the probability the model
puts on the formula's own elements at the first element line (prompt with the formula alone, then a
fixed cubic 5.0 Å lattice), against the same elements' probability when the prompt states the next
row's formula instead. A model that ignores the formula gives the two the same value.

Hits: --per-row conditional samples per row (formula, spacegroup and E_hull stated, as the main job
prompts), drawn by `xtalgen sample run` under the format constraint at T 1.0, top_p 1.0, first
draws; "held" repeats them with the chemical system held (--formula-elements). A hit is a sample
whose reduced formula equals the requested one. --probe-only skips the samples, so that every
checkpoint of a long pretraining can be probed in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Composition
from transformers import AutoModelForCausalLM, AutoTokenizer

from xtalgen.text.prompts import generation_prompt, stated_formula

BIN = Path(sys.executable).parent
LATTICE = "5.0 5.0 5.0\n90 90 90\n"
STYLE = ["reduced"]  # --formula-style: how the base was trained to read the formula


def _load(spec: str) -> torch.nn.Module:
    folder, _, adapter = spec.partition(":")
    model = AutoModelForCausalLM.from_pretrained(folder)
    if adapter:
        from peft import PeftModel  # noqa: PLC0415

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model.eval()


def _element_mass(model: torch.nn.Module, tokenizer, formula: str, elements: list[str]) -> float:  # noqa: ANN001
    text = generation_prompt({"formula": stated_formula(formula, STYLE[0])}) + LATTICE
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        probs = model(torch.tensor([ids])).logits[0, -1].softmax(-1)
    firsts = {tokenizer(el, add_special_tokens=False)["input_ids"][0] for el in elements}
    return float(sum(probs[i] for i in firsts))


def probe(spec: str, tokenizer, formulas: list[str]) -> tuple[float, float]:  # noqa: ANN001
    """Mean mass on the formula's elements: with its own formula stated, and with the next row's."""
    model = _load(spec)
    own, other = [], []
    for k, formula in enumerate(formulas):
        elements = [el.symbol for el in Composition(formula).elements]
        own.append(_element_mass(model, tokenizer, formula, elements))
        other.append(_element_mass(model, tokenizer, formulas[(k + 1) % len(formulas)], elements))
    return float(np.mean(own)), float(np.mean(other))


def hits(spec: str, conditions: Path, per_row: int, *, held: bool) -> tuple[int, int]:
    folder, _, adapter = spec.partition(":")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples.csv"
        args = [str(BIN / "xtalgen"), "sample", "run", "--base", folder, "--out", str(out)]
        args += ["--adapter", adapter] if adapter else []
        args += [
            "--unconditional",
            "0",
            "--conditions",
            str(conditions),
            "--conditions-per-row",
            str(per_row),
        ]
        args += ["--temperature", "1.0", "--top-p", "1.0", "--max-attempts", "1"]
        args += ["--formula-elements"] if held else []
        args += ["--formula-style", STYLE[0]]
        env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
        table = pd.read_csv(out, keep_default_na=False)
    met = 0
    for _, row in table[table["status"] == "ok"].iterrows():
        from pymatgen.core import Structure  # noqa: PLC0415

        wanted = Composition(json.loads(row["conditions"])["formula"]).reduced_formula
        try:
            got = Structure.from_str(row["cif"], fmt="cif").composition.reduced_formula
        except ValueError:  # a sample with two atoms on one site: no structure, no hit
            continue
        met += got == wanted
    return met, len(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folders, or FOLDER:ADAPTER")
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument(
        "--conditions", type=Path, required=True, help="a structures table (id, formula, ...)"
    )
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--per-row", type=int, default=4)
    parser.add_argument(
        "--formula-style", choices=["reduced", "cell"], default="reduced", help="as the base was trained"
    )
    parser.add_argument(
        "--probe-only", action="store_true", help="the probe alone, cheap enough per checkpoint"
    )
    args = parser.parse_args()
    STYLE[0] = args.formula_style
    torch.set_num_threads(os.cpu_count() or 1)
    table = pd.read_csv(args.conditions).head(args.rows)
    columns = [c for c in ("id", "formula", "spacegroup", "e_above_hull") if c in table]
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        conditions = Path(tmp) / "conditions.csv"
        table[columns].to_csv(conditions, index=False)
        print(f"{len(table)} formulas, {args.per_row} samples each (first draws)")
        print("model | mass on own elements | same elements, other formula stated | hits | hits, held")
        for spec in args.models:
            own, other = probe(spec, tokenizer, list(table["formula"]))
            if args.probe_only:
                print(f"{spec} | {own:.3f} | {other:.3f} | - | -", flush=True)
                continue
            free, n = hits(spec, conditions, args.per_row, held=False)
            held, _ = hits(spec, conditions, args.per_row, held=True)
            print(f"{spec} | {own:.3f} | {other:.3f} | {free} of {n} | {held} of {n}", flush=True)


if __name__ == "__main__":
    main()
