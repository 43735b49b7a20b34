"""Constrained decoding: an element constraint of our own, and a full-format one through xgrammar.

The element constraint masks, at every position where the crystal string expects an element symbol,
each token that would not continue a configured symbol. The paper's ``bad_words_ids`` approach never
fired, because each forbidden word was tokenized with a leading BOS token.

The format constraint compiles the whole crystal-string grammar (lengths, angles, element lines from
the configured set, coordinates, at most ``max_sites`` sites) into an xgrammar matcher, and adds an
angle guard: a grammar cannot say that three angles span a volume, but the guard can, because for
integer angles in (0, 180) the metric determinant is positive exactly when
``|alpha - beta| < gamma < min(alpha + beta, 360 - alpha - beta)`` (checked for all 179^3 triples in
the tests). With both, every completion parses. It was chosen
over outlines (same result, 2.5x slower on CPU) and lm-format-enforcer (does not import with
transformers 5); see benchmarks/constraint_libraries.py.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Literal

import torch
from pymatgen.core import Element
from transformers import LogitsProcessor

from xtalgen.errors import InputError, in_terms, setting
from xtalgen.lm.surface import token_surfaces

if TYPE_CHECKING:
    from collections.abc import Sequence

    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_ELEMENTS",
    "AngleGuard",
    "ElementConstraint",
    "Kind",
    "check_elements",
    "crystal_regex",
    "format_constraint",
    "format_token_bound",
    "infill_regex",
]

# MP's range: hydrogen to plutonium.
DEFAULT_ELEMENTS: tuple[str, ...] = tuple(e.symbol for e in Element if e.Z <= 94)
Kind = Literal["crystal", "element"]  # a whole crystal string, or one element symbol (infill)


def check_elements(elements: Sequence[str]) -> tuple[str, ...]:
    """The configured symbols, refused with the bad ones named."""
    bad = [e for e in elements if not Element.is_valid_symbol(e)]
    if bad:
        raise InputError(f"{setting('sample.elements')}: not element symbols: {', '.join(bad)}")
    if not elements:
        raise InputError(
            f"{setting('sample.elements')}: give at least one element symbol, or "
            + in_terms("null for all", "none for all")
        )
    return tuple(dict.fromkeys(elements))


def _alternation(elements: Sequence[str]) -> str:
    return "(?:" + "|".join(sorted(map(re.escape, elements), key=len, reverse=True)) + ")"


def crystal_regex(elements: Sequence[str], max_sites: int) -> str:
    """A crystal string as the codec writes it: lengths 1.0-99.9 Å, angles 1-179°, 1..max_sites sites."""
    length = r"[1-9]\d?\.\d"
    angle = r"(?:1[0-7]\d|[1-9]\d?)"
    coord = r"0\.\d\d"
    site = _alternation(elements) + rf"\n{coord} {coord} {coord}"
    return (
        rf"{length} {length} {length}\n{angle} {angle} {angle}\n"
        rf"(?:{site}\n){{0,{max_sites - 1}}}{site}"
    )


def system_grammar(elements: Sequence[str], max_sites: int) -> str:
    """EBNF of a crystal string with every one of ``elements`` and no other, at most ``max_sites`` sites.

    The chemical system is held and the counts are left to the model. Sites come in blocks in the
    caller's order (electronegativity, as in MP's CIFs), and rule ``f<i>x<n>`` counts the ``n`` sites
    written so far, which a regular expression cannot bound across blocks.
    """
    k = len(elements)
    if not 0 < k <= max_sites:
        raise InputError(f"a formula of {k} elements cannot fit in max_sites {max_sites}")
    rules = [
        "root ::= lattice site0 f0x1",
        'lattice ::= len " " len " " len "\\n" ang " " ang " " ang',
        'len ::= [1-9] [0-9]? "." [0-9]',
        'ang ::= "1" [0-7] [0-9] | [1-9] [0-9]?',
        'coords ::= c " " c " " c',
        'c ::= "0." [0-9] [0-9]',
    ]
    rules += [f'site{i} ::= "\\n{el}\\n" coords' for i, el in enumerate(elements)]
    for i in range(k):
        last = max_sites - (k - 1 - i)  # room for one site of each later element
        for n in range(i + 1, last + 1):
            ways = [f"site{i} f{i}x{n + 1}"] if n < last else []
            ways.append(f"site{i + 1} f{i + 1}x{n + 1}" if i < k - 1 else '""')
            rules.append(f"f{i}x{n} ::= " + " | ".join(ways))
    return "\n".join(rules)


def format_token_bound(max_sites: int) -> int:
    """Characters of the longest crystal string the grammar allows, plus EOS: enough new tokens."""
    return len("99.9 99.9 99.9\n179 179 179\n") + max_sites * len("Xx\n0.00 0.00 0.00\n") + 1


def infill_regex(elements: Sequence[str]) -> str:
    """One element symbol: the answer to an infill prompt."""
    return _alternation(elements)


@cache
def _compiled(tokenizer: PreTrainedTokenizerBase, vocab_size: int, source: str, *, ebnf: bool):  # noqa: ANN202
    import xgrammar as xgr  # noqa: PLC0415 - only the format constraint needs it

    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    compiler = xgr.GrammarCompiler(info)
    return compiler.compile_grammar(source) if ebnf else compiler.compile_regex(source)


def format_constraint(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int, regex: str, kind: Kind, *, ebnf: bool = False
) -> list[LogitsProcessor]:
    """Fresh processors for one ``generate`` call (they keep per-row state); ``ebnf``: ``regex`` is EBNF."""
    import xgrammar as xgr  # noqa: PLC0415

    grammar = xgr.contrib.hf.LogitsProcessor(_compiled(tokenizer, vocab_size, regex, ebnf=ebnf))
    return [grammar] if kind == "element" else [grammar, AngleGuard(tokenizer, vocab_size)]


class _LineTracker(LogitsProcessor):
    """Follows, per row, the line index and the text of the current line of the completion.

    Text is read from each token's surface form (xtalgen.lm.surface), never from decoding it alone.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        self.texts = token_surfaces(tokenizer, vocab_size)
        self.start: int | None = None
        self.state: list[tuple[int, str]] = []

    def _advance(self, input_ids: torch.LongTensor) -> None:
        if self.start is None:
            self.start = input_ids.shape[1]
            self.state = [(0, "")] * input_ids.shape[0]
        elif input_ids.shape[1] > self.start:
            for row, token in enumerate(input_ids[:, -1].tolist()):
                index, partial = self.state[row]
                lines = (partial + self.texts[token]).split("\n")
                self.state[row] = (index + len(lines) - 1, lines[-1])


class ElementConstraint(_LineTracker):
    """Only configured element symbols where an element is expected; everything else untouched."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, elements: Sequence[str], kind: Kind, vocab_size: int
    ) -> None:
        super().__init__(tokenizer, vocab_size)
        self.elements = frozenset(elements)
        self.prefixes = frozenset(e[:i] for e in elements for i in range(len(e) + 1))
        self.kind = kind
        self.eos = tokenizer.eos_token_id
        self.masks: dict[tuple[int, str], torch.Tensor] = {}

    def _is_element_line(self, index: int) -> bool:
        if self.kind == "element":
            return index == 0
        return index >= 2 and index % 2 == 0

    def _line_ok(self, index: int, text: str, *, complete: bool) -> bool:
        if not self._is_element_line(index):
            return True
        return text in self.elements if complete else text in self.prefixes

    def _token_ok(self, index: int, partial: str, piece: str) -> bool:
        lines = (partial + piece).split("\n")
        return all(
            self._line_ok(index + k, line, complete=k < len(lines) - 1) for k, line in enumerate(lines)
        )

    def _mask(self, index: int, partial: str) -> torch.Tensor:
        on_element = self._is_element_line(index)
        if not on_element:
            partial = ""  # nothing on this line is constrained, only what a newline starts
        key = (index if index < 2 or self.kind == "element" else 2 + index % 2, partial)
        if key not in self.masks:
            allowed = [self._token_ok(index, partial, piece) for piece in self.texts]
            complete = partial in self.elements
            if self.kind == "element":
                allowed[self.eos] = on_element and complete
            else:
                allowed[self.eos] = not on_element or partial == ""
            self.masks[key] = torch.tensor(allowed, dtype=torch.bool)
        return self.masks[key]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask the scores of tokens that would write a forbidden symbol."""
        self._advance(input_ids)
        for row, (index, partial) in enumerate(self.state):
            if self.kind == "element" and index > 0:
                continue
            if self._is_element_line(index) and partial not in self.prefixes:
                continue  # a finished row (padding after EOS): nothing left to constrain
            mask = self._mask(index, partial).to(scores.device)
            scores[row, ~mask[: scores.shape[1]]] = -float("inf")
        return scores


_TWO_ANGLES = re.compile(r"(\d+) (\d+) (\d*)")


class AngleGuard(_LineTracker):
    """Keeps the third angle inside the range where the three angles span a volume."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        super().__init__(tokenizer, vocab_size)
        self.eos = tokenizer.eos_token_id
        self.masks: dict[tuple[int, int, str], torch.Tensor] = {}

    @staticmethod
    def _allowed(valid: frozenset[str], digits: str, piece: str) -> bool:
        head, newline, _ = piece.partition("\n")
        text = digits + head
        if newline:
            return text in valid
        return bool(text) and any(v.startswith(text) for v in valid)

    def _mask(self, alpha: int, beta: int, digits: str) -> torch.Tensor:
        key = (alpha, beta, digits)
        if key not in self.masks:
            low, high = abs(alpha - beta), min(alpha + beta, 360 - alpha - beta)
            valid = frozenset(str(v) for v in range(low + 1, high))
            allowed = [self._allowed(valid, digits, piece) for piece in self.texts]
            allowed[self.eos] = False
            self.masks[key] = torch.tensor(allowed, dtype=torch.bool)
        return self.masks[key]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask third-angle tokens that would leave no valid cell."""
        self._advance(input_ids)
        for row, (index, partial) in enumerate(self.state):
            match = _TWO_ANGLES.fullmatch(partial) if index == 1 else None
            if match is None:
                continue
            mask = self._mask(int(match[1]), int(match[2]), match[3]).to(scores.device)
            if mask.any():
                scores[row, ~mask[: scores.shape[1]]] = -float("inf")
        return scores
