"""A byte-level BPE tokenizer trained on the crystal strings, with every digit its own token.

Digits split one per token, as in LLaMA's tokenizer: the paper credits this for the model's handling
of coordinates, and it keeps numbers from merging into arbitrary multi-digit tokens.

A capital letter and the small letter after it are split off before merging, so an element symbol
is the same token wherever it stands: "LiMnO2" in a prompt reads "Li", "Mn", "O", "2", the tokens of
the crystal string's element lines. Left to BPE, the formula reads "ĠLi" and "MnO", tokens the
crystal string never uses, and a small model must learn each pair before it can copy the formula
into the crystal. The prompt's English pays a few tokens for it ("Th", "e").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from xtalgen.text.codec import MASK_TOKEN

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = ["SPECIAL_TOKENS", "train_tokenizer"]

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def train_tokenizer(texts: Iterable[str], out_dir: Path, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train on ``texts`` and save a transformers tokenizer into ``out_dir``."""
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.Split(Regex(r"[A-Z][a-z]?"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **SPECIAL_TOKENS)
    wrapped.add_tokens([MASK_TOKEN])
    wrapped.padding_side = "left"  # generation pads on the left; training sets its own side
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(out_dir)
    return wrapped
