"""A temperature of its own for the element lines of a crystal string.

A small base writes coordinates best at temperature 1.0 (below it, it repeats sites), but at 1.0 it
draws each element line nearly from the elements' overall frequencies, so one crystal collects five
or more unrelated elements. Sampling the element lines cooler keeps the coordinates' diversity and
draws compositions from what the model finds likely. Lines are counted in the generated text: two
lattice lines, then an element line and a coordinate line per site.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import torch
from transformers import LogitsProcessor

from xtalgen.errors import InputError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["ElementTemperature", "newline_counts"]

LATTICE_LINES = 2


@lru_cache(maxsize=4)
def newline_counts(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> torch.Tensor:
    """Newlines in each token's text, decoded once per tokenizer (a LLaMA-3 vocabulary has 128k)."""
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for token_id in range(min(vocab_size, len(tokenizer))):
        counts[token_id] = tokenizer.decode([token_id]).count("\n")
    return counts


class ElementTemperature(LogitsProcessor):
    """Rescale the logits of every token of an element line so that it is drawn at ``temperature``.

    generate() applies its own temperature after the logits processors, so element-line logits are
    multiplied by ``base_temperature / temperature``: the product is ``temperature``.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        vocab_size: int,
        prompt_width: int,
        temperature: float,
        base_temperature: float,
    ) -> None:
        if temperature <= 0:
            raise InputError(f"element temperature must be > 0, got {temperature}")
        self.newlines = newline_counts(tokenizer, vocab_size)
        self.prompt_width = prompt_width
        self.factor = base_temperature / temperature

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Scale the rows whose next token belongs to an element line (lines 3, 5, ... of the text)."""
        lines = self.newlines[input_ids[:, self.prompt_width :]].sum(dim=1)
        on_element_line = (lines >= LATTICE_LINES) & (lines % 2 == 0)
        scores[on_element_line] = scores[on_element_line] * self.factor
        return scores
