"""Sampling throughput at batch 1, 16, 64 and 128, and the parse rate under each constraint.

Run: python benchmarks/sampling.py --base results/model/tiny/model --adapter results/finetune/adapter
(the main job's tiny base and adapter). Every figure comes from the same model in the same run;
throughput is the median of --repeats runs, unconditional prompts, no constraint.

Run: python benchmarks/sampling.py --families llama2 llama3 project [--hidden-size 192 --layers 4]
for each tokenizer family (xtalgen.testing's builders, trained on the pilot split) under a random
LLaMA of the given shape: samples/s and generated tokens/s of the sampler under the format
constraint (rows stop at EOS), beside the hardware's limit for that model and batch, which is
plain ``generate`` forced to the same number of new tokens with no constraint and no parsing.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from xtalgen.lm.base import ModelSpec, load_tokenizer
from xtalgen.lm.lora import load_for_sampling
from xtalgen.lm.sampling import SampleSettings, sample, unconditional_requests


def _family_rows(args: argparse.Namespace) -> None:
    import json  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from xtalgen.lm.tiny import TinyModelSettings, build_tiny_model  # noqa: PLC0415
    from xtalgen.structures_io import read_structures  # noqa: PLC0415
    from xtalgen.testing import mp20_pilot_dir, tokenizer_family  # noqa: PLC0415
    from xtalgen.text.codec import encode  # noqa: PLC0415
    from xtalgen.text.prompts import generation_prompt  # noqa: PLC0415

    structures = [s for _, s, _ in read_structures(mp20_pilot_dir() / "train.csv.gz") if s is not None]
    texts = [generation_prompt(None) + encode(s) for s in structures[:600]]
    shape = TinyModelSettings(
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        intermediate_size=args.hidden_size * 8 // 3,
    )
    print(
        f"random LLaMA {args.hidden_size}x{args.layers}, format constraint, max_sites {args.max_sites}, "
        f"{'cuda' if torch.cuda.is_available() else f'cpu, {torch.get_num_threads()} threads'}"
    )
    print("family   batch  samples/s  tokens/s  limit tokens/s  ratio  tokens/sample")
    for family in args.families:
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer = tokenizer_family(family, texts, Path(tmp), vocab_size=args.vocab_size)
        torch.manual_seed(0)
        model = build_tiny_model(shape, tokenizer).eval()
        if torch.cuda.is_available():
            model = model.to("cuda")
        for batch in args.batches:
            n = max(batch, 4)
            settings = SampleSettings(
                temperature=1.0, top_p=1.0, constraint="format", batch_size=batch, max_attempts=1,
                max_sites=args.max_sites,
            )  # fmt: skip
            times, tokens = [], []
            for repeat in range(args.repeats):
                start = time.perf_counter()
                rows = list(
                    sample(model, tokenizer, unconditional_requests(n), replace(settings, seed=repeat))
                )
                times.append(time.perf_counter() - start)
                tokens.append(
                    sum(
                        len(tokenizer(r["raw_text"], add_special_tokens=False)["input_ids"]) + 1 for r in rows
                    )
                )
            seconds = statistics.median(times)
            per_sample = statistics.median(tokens) / n
            limit = _limit(model, tokenizer, batch, round(per_sample), args.repeats)
            rate = statistics.median(tokens) / seconds
            print(
                json.dumps(
                    {
                        "family": family,
                        "batch": batch,
                        "samples_s": round(n / seconds, 2),
                        "tokens_s": round(rate),
                        "limit_tokens_s": round(limit),
                        "ratio": round(rate / limit, 2),
                        "tokens_per_sample": round(per_sample),
                    }
                ),
                flush=True,
            )


def _limit(model: torch.nn.Module, tokenizer: Any, batch: int, new_tokens: int, repeats: int) -> float:
    """Tokens/s of plain generate at ``batch`` rows and ``new_tokens`` each: the decode loop alone."""
    from xtalgen.text.prompts import generation_prompt  # noqa: PLC0415

    ids = tokenizer([generation_prompt(None)] * batch, return_tensors="pt").to(model.device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(**ids, do_sample=True, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        times.append(time.perf_counter() - start)
    return batch * new_tokens / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=Path, default=Path("results/model/tiny/model"))
    parser.add_argument("--adapter", type=Path, default=Path("results/finetune/adapter"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 128])
    parser.add_argument("--parse-samples", type=int, default=64)
    parser.add_argument("--families", nargs="+", choices=["llama2", "llama3", "project"])
    parser.add_argument("--hidden-size", type=int, default=192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--max-sites", type=int, default=20)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    if args.families:
        _family_rows(args)
        return
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
