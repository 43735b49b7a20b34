"""Sampling throughput at batch 1, 16, 64 and 128, and the parse rate under each constraint.

Run: python benchmarks/sampling.py --base results/model/tiny/model --adapter results/finetune/adapter
(the main job's tiny base and adapter). Every figure comes from the same model in the same run;
throughput is the median of --repeats runs, unconditional prompts, no constraint.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from xtalgen.lm.base import ModelSpec, load_tokenizer
from xtalgen.lm.lora import load_for_sampling
from xtalgen.lm.sampling import SampleSettings, sample, unconditional_requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, default=Path("results/model/tiny/model"))
    parser.add_argument("--adapter", type=Path, default=Path("results/finetune/adapter"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 128])
    parser.add_argument("--parse-samples", type=int, default=64)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    model = load_for_sampling(ModelSpec(str(args.base)), args.adapter)
    if torch.cuda.is_available():
        model = model.to("cuda")
    tokenizer = load_tokenizer(str(args.adapter))
    print(f"device: {'cuda' if torch.cuda.is_available() else 'cpu'}; base {args.base}")

    rates = {}
    for batch in args.batches:
        n = max(batch, 4)  # batch 1 draws 4 samples one after another
        settings = SampleSettings(constraint="none", batch_size=batch, max_attempts=1, max_new_tokens=400)
        times = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            rows = list(sample(model, tokenizer, unconditional_requests(n), replace(settings, seed=repeat)))
            times.append(time.perf_counter() - start)
        rates[batch] = len(rows) / statistics.median(times)
        print(f"batch {batch:4d}: {rates[batch]:7.2f} samples/s (median of {args.repeats}, {n} samples)")
    if 1 in rates:
        for batch in args.batches[1:]:
            print(f"batch {batch} / batch 1: {rates[batch] / rates[1]:.1f}x")

    for constraint in ("none", "elements", "format"):
        settings = SampleSettings(constraint=constraint, batch_size=64, max_attempts=1)
        start = time.perf_counter()
        rows = list(sample(model, tokenizer, unconditional_requests(args.parse_samples), settings))
        seconds = time.perf_counter() - start
        parsed = sum(r["status"] == "ok" for r in rows) / len(rows)
        print(f"constraint {constraint:8s}: parse rate {parsed:6.1%} of {len(rows)} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
