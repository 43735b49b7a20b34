"""Sampling under the format constraint at LLaMA-2's and LLaMA-3's real vocabulary sizes.

The project's tokenizers of each family, grown to 32,000 and 128,256 tokens (xtalgen.testing's
padded_tokenizer), under a random tiny LLaMA: every sample of a batch of 64 parses, and no processor
walks the vocabulary in Python per row and step (``token_checks``). benchmarks/constraint_cost.py
times the same set-up.
"""

from __future__ import annotations

import pytest

from xtalgen.lm import sampling
from xtalgen.lm.sampling import SampleSettings, sample, unconditional_requests
from xtalgen.structures_io import read_structures
from xtalgen.testing import REAL_VOCAB_SIZES, mp20_pilot_dir, padded_tokenizer, random_llama
from xtalgen.text.codec import encode
from xtalgen.text.prompts import generation_prompt


@pytest.fixture(scope="module")
def texts() -> list[str]:
    structures = [s for _, s, _ in read_structures(mp20_pilot_dir() / "train.csv.gz") if s is not None]
    return [generation_prompt(None) + encode(s) for s in structures[:300]]


@pytest.mark.parametrize("family", sorted(REAL_VOCAB_SIZES))
def test_64_of_64_parse_at_batch_64_and_no_processor_walks_the_vocabulary(
    family, texts, tmp_path, monkeypatch
):
    size = REAL_VOCAB_SIZES[family]
    tokenizer = padded_tokenizer(family, texts, tmp_path, size)
    assert len(tokenizer) == size
    model = random_llama(tokenizer)
    built: list = []
    for name in ("_processors", "_element_temperature"):
        make = getattr(sampling, name)

        def keep(*args, make=make, **kwargs):
            processors = make(*args, **kwargs)
            built.extend(processors)
            return processors

        monkeypatch.setattr(sampling, name, keep)
    settings = SampleSettings(
        temperature=1.0, top_p=1.0, constraint="format", batch_size=64, max_attempts=1, max_sites=8,
        element_temperature=0.85, seed=0,
    )  # fmt: skip
    rows = list(sample(model, tokenizer, unconditional_requests(64), settings))
    assert len(rows) == 64
    assert [r["reason"] for r in rows if r["status"] != "ok"] == []
    names = {type(p).__name__ for p in built}
    assert {"GrammarConstraint", "AngleGuard", "ElementTemperature"} <= names, names
    # Over the whole batch (64 rows, up to ~150 steps) the Python-side checks stay below one pass
    # over the vocabulary: masks are built from the few tokens that can matter, once per key.
    checks = sum(p.token_checks for p in built)
    assert checks < size, (checks, size)
