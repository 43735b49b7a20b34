"""What text each token really writes, for every tokenizer family.

Decoding one token alone lies for SentencePiece: its decoder drops the "▁" (space) that starts a
sequence, so "▁" alone decodes to "" and "90 90 90" reads as "909090". xgrammar's TokenizerInfo
already knows each family's surface forms (SentencePiece's "▁" as a space and byte fallback
"<0x0A>" as a newline, byte-level BPE's byte alphabet, raw vocabularies), so the constraints and the
sampler read tokens through it. Each token's surface is kept as bytes decoded as Latin-1: one
character per byte, so crystal strings (ASCII) read as written and a partial UTF-8 sequence never
passes for a symbol or a digit.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from transformers import PreTrainedTokenizerBase

__all__ = ["NOT_TEXT", "continuation", "token_surfaces", "tokenizer_info"]

NOT_TEXT = "\x00"  # the surface of special tokens and of ids beyond the tokenizer: never text


@cache
def tokenizer_info(tokenizer: PreTrainedTokenizerBase, vocab_size: int):  # noqa: ANN201
    """The tokenizer as xgrammar sees it, built once: the grammars and the surfaces share it."""
    import xgrammar as xgr  # noqa: PLC0415

    return xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)


@cache
def _surfaces(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int
) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    info = tokenizer_info(tokenizer, vocab_size)
    raw = list(info.decoded_vocab)[:vocab_size]
    raw += [b""] * (vocab_size - len(raw))
    special = set(tokenizer.all_special_ids) | set(info.special_token_ids)
    known = len(tokenizer)  # once: with added tokens, len() walks the vocabulary on every call
    texts = tuple(
        NOT_TEXT if i in special or i >= known else piece.decode("latin-1") for i, piece in enumerate(raw)
    )
    pieces = tuple(b"" if i in special else piece for i, piece in enumerate(raw))
    return texts, pieces


def token_surfaces(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> tuple[str, ...]:
    """Per token id, the text it writes after other text (Latin-1 of its bytes); specials: NOT_TEXT."""
    return _surfaces(tokenizer, vocab_size)[0]


def continuation(tokenizer: PreTrainedTokenizerBase, vocab_size: int, ids: Iterable[int]) -> str:
    """The text generated tokens write after a prompt, up to the first EOS; specials write nothing.

    Unlike ``tokenizer.decode`` of the new tokens alone, a leading SentencePiece space is kept.
    """
    return completion(tokenizer, vocab_size, ids)[0]


def completion(tokenizer: PreTrainedTokenizerBase, vocab_size: int, ids: Iterable[int]) -> tuple[str, bool]:
    """``continuation``'s text, and whether the model ended it (wrote EOS) within the tokens given.

    A completion without EOS was cut at the token limit: its last number may be cut too ("0.5" of
    "0.56"), so it must not pass as a whole crystal.
    """
    pieces = _surfaces(tokenizer, vocab_size)[1]
    out = bytearray()
    ended = False
    for token in ids:
        if token == tokenizer.eos_token_id:
            ended = True
            break
        if 0 <= token < len(pieces):
            out += pieces[token]
    return out.decode("utf-8", errors="replace"), ended
