"""The structured-generation libraries, tried on the crystal-string grammar with transformers 5 on CPU.

Run: python benchmarks/constraint_libraries.py --base results/model/tiny/model. For each library:
whether it works with the installed transformers, the time to draw --n samples at one batch, and
how many match the grammar. xtalgen uses xgrammar (constraints.py); the other two are tried only if
installed (pip install outlines lm-format-enforcer).
"""

from __future__ import annotations

import argparse
import re
import time
import warnings
from pathlib import Path

import torch

from xtalgen.lm.base import ModelSpec, load_base_model, load_tokenizer
from xtalgen.lm.constraints import crystal_regex, format_token_bound
from xtalgen.text.prompts import generation_prompt

ELEMENTS = ["Na", "Cl", "O", "Fe", "Li", "Si", "Mn", "Ba", "Ti"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, default=Path("results/model/tiny/model"))
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    tokenizer = load_tokenizer(str(args.base))
    model = load_base_model(ModelSpec(str(args.base)))
    regex = crystal_regex(ELEMENTS, 20)
    prompt = tokenizer.bos_token + generation_prompt(None)
    encoded = tokenizer([prompt] * args.n, return_tensors="pt", add_special_tokens=False)
    new_tokens = format_token_bound(20)

    def generate(**kwargs: object) -> list[str]:
        torch.manual_seed(0)
        pad = tokenizer.pad_token_id
        out = model.generate(**encoded, do_sample=True, max_new_tokens=new_tokens, pad_token_id=pad, **kwargs)
        return tokenizer.batch_decode(out[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)

    def xgrammar_run() -> list[str]:
        import xgrammar as xgr  # noqa: PLC0415

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=model.config.vocab_size)
        compiled = xgr.GrammarCompiler(info).compile_regex(regex)
        return generate(logits_processor=[xgr.contrib.hf.LogitsProcessor(compiled)])

    def outlines_run() -> list[str]:
        import outlines  # noqa: PLC0415

        wrapped = outlines.from_transformers(model, tokenizer)
        generator = outlines.Generator(wrapped, outlines.types.Regex(regex))
        return generator.batch([prompt] * args.n, max_new_tokens=new_tokens, do_sample=True)

    def enforcer_run() -> list[str]:
        from lmformatenforcer import RegexParser  # noqa: PLC0415
        from lmformatenforcer.integrations.transformers import (  # noqa: PLC0415
            build_transformers_prefix_allowed_tokens_fn,
        )

        allowed = build_transformers_prefix_allowed_tokens_fn(tokenizer, RegexParser(regex))
        return generate(prefix_allowed_tokens_fn=allowed)

    for name, run in (
        ("none", generate),
        ("xgrammar", xgrammar_run),
        ("outlines", outlines_run),
        ("lm-format-enforcer", enforcer_run),
    ):
        start = time.perf_counter()
        try:
            texts = run()
        except Exception as err:  # a library that does not work here is a result, not a crash
            print(f"{name:20s} fails: {type(err).__name__}: {str(err).splitlines()[0][:120]}")
            continue
        seconds = time.perf_counter() - start
        matched = sum(bool(re.fullmatch(regex, t)) for t in texts)
        n = len(texts)
        print(f"{name:20s} {seconds:6.1f} s for {n} samples, {matched}/{n} match the grammar")


if __name__ == "__main__":
    main()
