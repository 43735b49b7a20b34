"""What each knob of the embedded tiny base buys: pretraining time against sample quality.

Run: python benchmarks/tiny_model.py --work /tmp/tiny --name NAME [knobs]. The data stage, the
corpus and the tokenizer are built once in --work and reused; each NAME pretrains a base with the
given knobs, draws --samples unconditional crystals and prints one row: pretraining seconds, the
final validation loss, and over the first draws the share that parsed, CDVAE's structural and
compositional validity and the median number of elements (MP-20: 3). Rows are appended to
--work/results.csv; benchmarks/tiny_model.md records the measured table.

The corpus "pilot" is the run's training split; "pilot+biternary" adds MP-20's binary/ternary val
and test rows, minus every id in the run's val and test splits, so that the validation loss and the
test conditions stay unseen.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from xtalgen.evaluate.validity import composition_valid, structure_valid
from xtalgen.structures_io import parse_cif
from xtalgen.testing import shared_data_dir

BIN = Path(sys.executable).parent


def _xtalgen(*args: str, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([str(BIN / "xtalgen"), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"xtalgen {' '.join(args)} failed:\n{done.stderr[-3000:]}")


def _ids(path: Path) -> set[str]:
    return set(pd.read_csv(path, usecols=["id"])["id"].astype(str))


def build_corpus(work: Path, corpus: str, tasks: str = "all") -> Path:
    """The pretraining records of ``corpus`` (``tasks`` generation: no infill records), built once."""
    data = shared_data_dir() / "mp_20"
    pilot = work / "data" / "pilot"
    if not (pilot / "test" / "summary.json").is_file():
        _xtalgen(
            "data", "prepare", "--dataset", str(data / "pilot_first1000"), "--out", str(pilot), threads=2
        )
    out = work / "data" / f"corpus-{corpus}-{tasks}.jsonl"
    if out.is_file():
        return out
    lines = (pilot / "train" / "prompts.jsonl").read_text().splitlines()
    if corpus == "pilot+biternary":
        extra = work / "data" / "biternary"
        if not (extra / "test" / "summary.json").is_file():
            _xtalgen(
                "data", "prepare", "--dataset", str(data / "biternary"), "--splits", "val", "test",
                "--out", str(extra), threads=2,
            )  # fmt: skip
        held_out = _ids(pilot / "val" / "structures.csv") | _ids(pilot / "test" / "structures.csv")
        for split in ("val", "test"):
            for line in (extra / split / "prompts.jsonl").read_text().splitlines():
                if json.loads(line)["id"] not in held_out:
                    lines.append(line)
    if tasks == "generation":
        lines = [line for line in lines if json.loads(line)["task"] != "infill"]
    out.write_text("\n".join(lines) + "\n")
    return out


def first_draws(samples: Path) -> dict[str, float]:
    """Parsed share, validity and median elements over the first draw of every sample."""
    table = pd.read_csv(samples, keep_default_na=False)
    first = table[table["attempt"] == 1]
    structures = [parse_cif(c)[0] if c else None for c in first["cif"]]
    parsed = [s for s in structures if s is not None]
    n = len(first)
    return {
        "samples": n,
        "parsed": round(len(parsed) / n, 3),
        "struct_valid": round(sum(map(structure_valid, parsed)) / n, 3),
        "comp_valid": round(sum(composition_valid(s.composition) for s in parsed) / n, 3),
        "median_elements": statistics.median(len(s.composition.elements) for s in parsed) if parsed else None,
        "median_sites": statistics.median(len(s) for s in parsed) if parsed else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--corpus", choices=["pilot", "pilot+biternary"], default="pilot+biternary")
    parser.add_argument("--tasks", choices=["all", "generation"], default="all")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--hidden-size", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate-size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--temperature", type=float, nargs="+", default=[1.0])
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--constraint", default="format")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    corpus = build_corpus(args.work, args.corpus, args.tasks)
    tokenizer = args.work / f"tokenizer-{args.vocab_size}"
    if not tokenizer.is_dir():
        train = args.work / "data" / "pilot" / "train" / "prompts.jsonl"
        _xtalgen("tokenizer", "train", "--records", str(train), "--out", str(tokenizer),
                 "--vocab-size", str(args.vocab_size), threads=args.threads)  # fmt: skip
    run = args.work / "runs" / args.name
    start = time.perf_counter()
    _xtalgen(
        "tiny", "pretrain", "--tokenizer", str(tokenizer), "--records", str(corpus),
        "--val-records", str(args.work / "data" / "pilot" / "val" / "prompts.jsonl"), "--out", str(run),
        "--hidden-size", str(args.hidden_size), "--layers", str(args.layers), "--heads", str(args.heads),
        "--intermediate-size", str(args.intermediate_size), "--max-steps", str(args.steps),
        "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--eval-steps", str(args.steps),
        "--save-steps", str(args.steps), threads=args.threads,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    log = pd.read_csv(run / "training_log.csv")
    val_loss = log["val_loss"].dropna().iloc[-1] if log["val_loss"].notna().any() else None
    for temperature in args.temperature:
        samples = run / f"samples-T{temperature}.csv"
        _xtalgen(
            "sample", "run", "--base", str(run / "model"), "--out", str(samples),
            "--unconditional", str(args.samples), "--temperature", str(temperature),
            "--top-p", str(args.top_p), "--constraint", args.constraint, "--seed", "0", threads=args.threads,
        )  # fmt: skip
        row = {
            "name": args.name,
            "corpus": args.corpus if args.tasks == "all" else f"{args.corpus} (generation only)",
            "shape": f"{args.hidden_size}x{args.layers}",
            "steps": args.steps,
            "batch": args.batch_size,
            "lr": args.lr,
            "temperature": temperature,
            "top_p": args.top_p,
            "pretrain_s": round(seconds),
            "val_loss": None if val_loss is None else round(float(val_loss), 4),
            **first_draws(samples),
        }
        print(json.dumps(row), flush=True)
        results = args.work / "results.csv"
        pd.DataFrame([row]).to_csv(results, mode="a", header=not results.is_file(), index=False)


if __name__ == "__main__":
    main()
