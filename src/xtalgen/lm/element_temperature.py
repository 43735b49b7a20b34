"""A temperature of its own for the element lines of a crystal string.

A small base writes coordinates best at temperature 1.0 (below it, it repeats sites), but at 1.0 it
draws each element line nearly from the elements' overall frequencies, so one crystal collects five
or more unrelated elements. Sampling the element lines cooler keeps the coordinates' diversity and
draws compositions from what the model finds likely. Lines are counted in the generated text: two
lattice lines, then an element line and a coordinate line per site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformers import LogitsProcessor

from xtalgen.errors import InputError
from xtalgen.lm.constraints import LineTracker, vocab_text

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["ElementTemperature"]

LATTICE_LINES = 2


class ElementTemperature(LogitsProcessor):
    """Rescale the logits of every token of an element line so that it is drawn at ``temperature``.

    generate() applies its own temperature after the logits processors, so element-line logits are
    multiplied by ``base_temperature / temperature``: the product is ``temperature``. Line numbers
    are kept as a tensor and the scaling is one multiplication of the whole batch's logits.
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
        no_text = lambda lines: torch.zeros_like(lines, dtype=torch.bool)  # noqa: E731 - lines only
        self.tracker = LineTracker(vocab_text(tokenizer, vocab_size), no_text, start=prompt_width)
        self.factor = base_temperature / temperature
        self.token_checks = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Scale the rows whose next token belongs to an element line (lines 3, 5, ... of the text)."""
        self.tracker.advance(input_ids)
        lines = self.tracker.lines
        on_element_line = (lines >= LATTICE_LINES) & (lines % 2 == 0)
        one = torch.ones((), dtype=scores.dtype, device=scores.device)
        factors = torch.where(on_element_line, one * self.factor, one)
        scores.mul_(factors.to(scores.dtype)[:, None])
        return scores
