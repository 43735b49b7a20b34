"""Host cost of the logits processors per row and decoding step, at LLaMA-2's and LLaMA-3's sizes.

Run: python benchmarks/constraint_cost.py [--batch 64 --samples 64 --repeats 3 --max-sites 8]

For each family, the project's tokenizer of that family grown to its real size (32,000 tokens for
LLaMA-2, 128,256 for LLaMA-3; xtalgen.testing.padded_tokenizer) under a random tiny LLaMA samples
``--samples`` crystals at ``--batch`` under the format constraint with element lines at their own
temperature, as the embedded config does. Every processor the sampler hands to ``generate`` is timed
around its call, and divided by the rows it saw: microseconds per row and decoding step. Beside it,
in the same run and on the same logits, the floor that any constraint pays on this machine: one
``xgrammar.apply_token_bitmask_inplace`` and one row-wise temperature division. The sampler's work
beyond the floor is the figure the constraint machinery answers for.

Also printed: the parse rate (every sample should parse under the format constraint) and the share
of computed row-steps that produced a kept token (rows that ended at EOS keep being computed until
the batch's longest row ends). For scale, the paper's LLaMA-2 7B at batch 512 spends 0.14 to 0.27 ms
of GPU time per row and step (gruver2024.md, sampling cost: 27.18 s per batch of 512, 200 to 380
steps). Times are medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from xtalgen.lm import sampling
from xtalgen.lm.sampling import SampleSettings, sample, unconditional_requests
from xtalgen.structures_io import read_structures
from xtalgen.testing import REAL_VOCAB_SIZES, mp20_pilot_dir, padded_tokenizer, random_llama
from xtalgen.text.codec import encode
from xtalgen.text.prompts import generation_prompt


class _Timed:
    """A logits processor timed around each call; ``row_steps`` counts the rows it was handed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.name = type(inner).__name__
        self.seconds = 0.0
        self.row_steps = 0
        self.calls = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - start
        self.row_steps += input_ids.shape[0]
        self.calls += 1
        return out


def _floor(vocab: int, batch: int, bitmask: torch.Tensor | None, repeats: int = 200) -> tuple[float, float]:
    """Microseconds per row of one bitmask application and one row-wise division, this machine.

    The bitmask is the grammar's own, as its matchers last filled it: xgrammar's CPU kernel costs
    differ by mask (an all-allowed one takes a fast path, a random one defeats branch prediction).
    """
    import xgrammar as xgr  # noqa: PLC0415

    scores = torch.randn(batch, vocab)
    if bitmask is None or bitmask.shape[0] != batch:
        bitmask = xgr.allocate_token_bitmask(batch, vocab)
    temperature = torch.full((batch, 1), 0.85)
    masks, divides = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        xgr.apply_token_bitmask_inplace(scores, bitmask)
        masks.append(time.perf_counter() - start)
        start = time.perf_counter()
        scores.div_(temperature)
        divides.append(time.perf_counter() - start)
    return 1e6 * statistics.median(masks) / batch, 1e6 * statistics.median(divides) / batch


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--families", nargs="+", default=list(REAL_VOCAB_SIZES), choices=list(REAL_VOCAB_SIZES)
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-sites", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)  # the host side of a GPU node's sampler is one Python thread
    structures = [s for _, s, _ in read_structures(mp20_pilot_dir() / "train.csv.gz") if s is not None]
    texts = [generation_prompt(None) + encode(s) for s in structures[:300]]

    timed: list[_Timed] = []
    build = sampling._processors

    def timed_processors(*a: object, **k: object) -> list:
        built = [_Timed(p) for p in build(*a, **k)]
        timed.extend(built)
        return built

    build_temperature = sampling._element_temperature

    def timed_temperature(*a: object, **k: object) -> list:
        built = [_Timed(p) for p in build_temperature(*a, **k)]
        timed.extend(built)
        return built

    sampling._processors = timed_processors
    sampling._element_temperature = timed_temperature
    print(
        f"batch {args.batch}, {args.samples} samples, format constraint, element lines at T 0.85, "
        f"max_sites {args.max_sites}, cpu, 1 thread; us per row and decoding step, "
        f"median of {args.repeats}"
    )
    for family in args.families:
        size = REAL_VOCAB_SIZES[family]
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer = padded_tokenizer(family, texts, Path(tmp), size)
        model = random_llama(tokenizer)
        settings = SampleSettings(
            temperature=1.0, top_p=1.0, constraint="format", batch_size=args.batch, max_attempts=1,
            max_sites=args.max_sites, element_temperature=0.85,
        )  # fmt: skip
        per_name: dict[str, list[float]] = {}
        walls, parsed, useful = [], [], []
        for repeat in range(args.repeats):
            timed.clear()
            start = time.perf_counter()
            requests = unconditional_requests(args.samples)
            rows = list(sample(model, tokenizer, requests, replace(settings, seed=repeat)))
            walls.append(time.perf_counter() - start)
            parsed.append(sum(r["status"] == "ok" for r in rows))
            kept = sum(len(tokenizer(r["raw_text"], add_special_tokens=False)["input_ids"]) + 1 for r in rows)
            computed = max(t.row_steps for t in timed)  # every processor sees every computed row-step
            useful.append(kept / computed)
            for name in {t.name for t in timed}:
                seconds = sum(t.seconds for t in timed if t.name == name)
                steps = sum(t.row_steps for t in timed if t.name == name)
                per_name.setdefault(name, []).append(1e6 * seconds / steps)
        grammar = [t.inner for t in timed if t.name == "GrammarConstraint"]
        mask_floor, divide_floor = _floor(size, args.batch, grammar[0].bitmask if grammar else None)
        total = sum(statistics.median(v) for v in per_name.values())
        floor = mask_floor + divide_floor
        parts = ", ".join(f"{name} {statistics.median(v):.1f}" for name, v in sorted(per_name.items()))
        print(
            f"{family} ({size:,} tokens): processors {total:.1f} us ({parts}); floor {floor:.1f} us "
            f"(bitmask {mask_floor:.1f}, divide {divide_floor:.1f}); "
            f"beyond the floor {total - floor:.1f} us; "
            f"parsed {min(parsed)}/{args.samples}; useful row-steps {statistics.median(useful):.0%}; "
            f"wall {statistics.median(walls):.1f} s; paper's GPU time 140-270 us"
        )


if __name__ == "__main__":
    main()
