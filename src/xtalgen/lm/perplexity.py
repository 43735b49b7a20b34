"""IPT, the paper's increase in perplexity under translation: how far a model is from invariance.

For a structure s and translations G, IPT(s) = E_g[PPL(t_g(s))] - min_g PPL(t_g(s)), where PPL is the
exponent of the length-normalised cross entropy of the crystal string given the generation prompt
(2^(CE/n) with CE in bits, which equals e^(mean NLL in nats)). A model whose likelihood ignores the
translation has IPT 0; the paper finds larger models have lower IPT.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from xtalgen.errors import InputError
from xtalgen.text.codec import encode
from xtalgen.text.prompts import generation_prompt

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["IptResult", "ipt", "perplexities"]


@dataclass(frozen=True)
class IptResult:
    """IPT over structures: mean and median, and what they were measured on."""

    ipt_mean: float
    ipt_median: float
    ppl_mean: float
    n_structures: int
    translations: int
    seed: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON."""
        return asdict(self)


def perplexities(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, completions: list[str], prompt: str
) -> np.ndarray:
    """PPL of each completion after ``prompt``, one forward pass each (no padding to bias the loss)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    prompt_ids = bos + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    device = next(model.parameters()).device
    out = np.empty(len(completions))
    model.eval()
    for k, completion in enumerate(completions):
        full = bos + tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
        start = len(prompt_ids)
        if full[:start] != prompt_ids:  # the tokenizer merged across the boundary: find the shared prefix
            start = next(i for i, (a, b) in enumerate(zip(full, prompt_ids, strict=False)) if a != b)
        start = max(start, 1)  # the first token has no prediction
        ids = torch.tensor([full], device=device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, :-1].float()
        targets = ids[0, 1:]
        nll = torch.nn.functional.cross_entropy(logits, targets, reduction="none")[start - 1 :]
        out[k] = math.exp(float(nll.mean()))
    return out


def ipt(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    structures: list[Structure],
    translations: int = 8,
    seed: int = 0,
) -> IptResult:
    """IPT of each structure over ``translations`` draws (the first is no translation), then averaged."""
    if translations < 2:
        raise InputError("IPT needs at least 2 translations: it compares a structure's translates")
    if not structures:
        raise InputError("IPT needs at least one structure")
    rng = np.random.default_rng(seed)
    prompt = generation_prompt(None)
    per_structure, means = [], []
    for structure in structures:
        shifts = [np.zeros(3)] + [rng.random(3) for _ in range(translations - 1)]
        ppl = perplexities(model, tokenizer, [encode(structure, translation=t) for t in shifts], prompt)
        per_structure.append(float(ppl.mean() - ppl.min()))
        means.append(float(ppl.mean()))
    return IptResult(
        ipt_mean=float(np.mean(per_structure)),
        ipt_median=float(np.median(per_structure)),
        ppl_mean=float(np.mean(means)),
        n_structures=len(structures),
        translations=translations,
        seed=seed,
    )
