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

Every processor costs the host little per row and step, whatever the vocabulary (LLaMA-3 has 128,256
tokens): masks are built once per state from the few tokens that can matter (digits for an angle, the
suffixes of element symbols, tokens that hold a newline) and kept as tensors; line numbers are kept as
a tensor; rows are masked in one operation per processor and step; grammars advance through
xgrammar's batched matcher. ``token_checks`` counts the tokens each processor examined in Python, so
a test can tell a return to loops over the vocabulary (benchmarks/sampling.py times them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import torch
from pymatgen.core import Element
from transformers import LogitsProcessor

from xtalgen.errors import InputError, in_terms, setting
from xtalgen.lm.surface import NOT_TEXT, token_surfaces, tokenizer_info

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_ELEMENTS",
    "AngleGuard",
    "ElementConstraint",
    "GrammarConstraint",
    "Kind",
    "LineTracker",
    "VocabText",
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
    import xgrammar as xgr  # noqa: PLC0415

    compiler = xgr.GrammarCompiler(tokenizer_info(tokenizer, vocab_size))
    return compiler.compile_grammar(source) if ebnf else compiler.compile_regex(source)


def format_constraint(
    tokenizer: PreTrainedTokenizerBase,
    vocab_size: int,
    grammars: str | Sequence[str],
    kind: Kind,
    *,
    ebnf: bool = False,
) -> list[LogitsProcessor]:
    """Fresh processors for one ``generate`` call (they keep per-row state).

    ``grammars``: one regex (or EBNF with ``ebnf``) for every row, or one per row, so that samples held
    to different formulas share a batch.
    """
    sources = [grammars] if isinstance(grammars, str) else list(grammars)
    compiled = [_compiled(tokenizer, vocab_size, g, ebnf=ebnf) for g in dict.fromkeys(sources)]
    by_source = dict(zip(dict.fromkeys(sources), compiled, strict=True))
    grammar = GrammarConstraint([by_source[g] for g in sources], vocab_size)
    return [grammar] if kind == "element" else [grammar, AngleGuard(tokenizer, vocab_size)]


class GrammarConstraint(LogitsProcessor):
    """xgrammar's matchers, advanced and asked for their masks in one batched call per step.

    xgrammar's own HF processor loops over the rows in Python and copies the logits to the CPU; this
    one keeps one bitmask for the batch, fills it with ``BatchGrammarMatcher`` (threads in C++) and
    applies it where the logits are. A row whose grammar has ended keeps its last mask (EOS allowed),
    so its padding draws stay finite.
    """

    def __init__(self, grammars: Sequence, vocab_size: int) -> None:
        self.grammars = list(grammars)
        self.vocab_size = vocab_size
        self.matchers: list = []
        self.token_checks = 0

    def _start(self, batch: int) -> None:
        import xgrammar as xgr  # noqa: PLC0415

        grammars = self.grammars * batch if len(self.grammars) == 1 else self.grammars
        if len(grammars) != batch:
            raise ValueError(f"{len(grammars)} grammars for a batch of {batch} rows")
        self.matchers = [xgr.GrammarMatcher(g) for g in grammars]
        self.bitmask = xgr.allocate_token_bitmask(batch, self.vocab_size)
        self.batch = xgr.BatchGrammarMatcher()
        self.device_mask: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Accept each live row's last token, fill the live rows' masks, mask the logits."""
        import xgrammar as xgr  # noqa: PLC0415

        if not self.matchers:
            self._start(input_ids.shape[0])
        else:
            live = [i for i, m in enumerate(self.matchers) if not m.is_terminated()]
            if live:
                tokens = input_ids[live, -1].tolist()
                xgr.BatchGrammarMatcher.batch_accept_token([self.matchers[i] for i in live], tokens)
        live = [i for i, m in enumerate(self.matchers) if not m.is_terminated()]
        if live:
            matchers = [self.matchers[i] for i in live]
            self.batch.batch_fill_next_token_bitmask(matchers, self.bitmask, indices=live)
        mask = (
            self.bitmask if scores.device.type == "cpu" else self.bitmask.to(scores.device, non_blocking=True)
        )
        xgr.apply_token_bitmask_inplace(scores, mask, vocab_size=scores.shape[1])
        return scores


@dataclass(frozen=True)
class VocabText:
    """What the constraints need to know of a vocabulary's surfaces, indexed once per tokenizer.

    Only the tokens that can matter are kept as lists: those that hold a newline (they start a line),
    those made of digits (they write an angle) and the surfaces by their text (element symbols).
    """

    surfaces: tuple[str, ...]
    newlines: torch.Tensor  # per token id, how many lines it ends
    with_newline: tuple[tuple[int, str], ...]
    digit_heads: tuple[tuple[int, str, bool], ...]  # (id, digits before any newline, has a newline)
    by_surface: dict[str, tuple[int, ...]]


@cache
def vocab_text(tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> VocabText:
    """The index of ``tokenizer``'s surfaces (xtalgen.lm.surface), built once per process."""
    surfaces = token_surfaces(tokenizer, vocab_size)
    newlines = torch.tensor([t.count("\n") for t in surfaces], dtype=torch.long)
    by_surface: dict[str, list[int]] = {}
    with_newline, digit_heads = [], []
    for token, text in enumerate(surfaces):
        by_surface.setdefault(text, []).append(token)
        head, newline, _ = text.partition("\n")
        if newline:
            with_newline.append((token, text))
        if (head.isdigit() and head.isascii()) or (newline and not head):
            digit_heads.append((token, head, bool(newline)))
    return VocabText(
        surfaces,
        newlines,
        tuple(with_newline),
        tuple(digit_heads),
        {k: tuple(v) for k, v in by_surface.items()},
    )


class LineTracker:
    """Per row, the line the next token writes on (a tensor), and that line's text for watched rows.

    Lines count from the start of the completion. The text of the current line is kept only while a
    row is on a line ``watch`` selects (element lines, the angle line): the token that brings a row
    onto such a line holds the newline, so its text starts there.
    """

    def __init__(
        self, vocab: VocabText, watch: Callable[[torch.Tensor], torch.Tensor], start: int | None = None
    ) -> None:
        self.vocab = vocab
        self.watch = watch
        self.start = start  # where the completion starts; None: at the first call's length
        self.seen: int | None = None
        self.lines = torch.zeros(0, dtype=torch.long)
        self.text: list[str] = []
        self.watched: list[int] = []

    def advance(self, input_ids: torch.LongTensor) -> None:
        """Read the last token of every row (once per step, whoever asks)."""
        length = input_ids.shape[1]
        if self.seen is None:
            self._begin(input_ids)
        elif length > self.seen:
            last = input_ids[:, -1]
            self.lines += self.newlines[last]
            rows = self.watch(self.lines).nonzero().flatten()
            self.watched = rows.tolist()
            for row, token in zip(self.watched, last[rows].tolist(), strict=True):
                piece = self._surface(token)
                self.text[row] = piece.rpartition("\n")[2] if "\n" in piece else self.text[row] + piece
        self.seen = length

    def _surface(self, token: int) -> str:
        surfaces = self.vocab.surfaces
        return surfaces[token] if 0 <= token < len(surfaces) else NOT_TEXT

    def _begin(self, input_ids: torch.LongTensor) -> None:
        """The first call: a completion may already be under way (a caller that joins late)."""
        start = input_ids.shape[1] if self.start is None else self.start
        self.newlines = self.vocab.newlines.to(input_ids.device)
        generated = input_ids[:, start:]
        self.lines = self.newlines[generated].sum(dim=1)
        self.watched = self.watch(self.lines).nonzero().flatten().tolist()
        self.text = [""] * input_ids.shape[0]
        for row in self.watched:
            text = "".join(self._surface(t) for t in generated[row].tolist())
            self.text[row] = text.rpartition("\n")[2]


def _mask_rows(scores: torch.Tensor, groups: dict[object, tuple[torch.Tensor, list[int]]]) -> None:
    """Set to -inf the forbidden tokens of each group's rows: one operation per distinct mask."""
    for forbidden, rows in groups.values():
        index = torch.tensor(rows, device=scores.device)
        scores[index] = scores[index].masked_fill(forbidden[: scores.shape[1]], -float("inf"))


class ElementConstraint(LogitsProcessor):
    """Only configured element symbols where an element is expected; everything else untouched."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, elements: Sequence[str], kind: Kind, vocab_size: int
    ) -> None:
        self.vocab = vocab_text(tokenizer, vocab_size)
        self.vocab_size = vocab_size
        self.elements = frozenset(elements)
        self.prefixes = frozenset(e[:i] for e in elements for i in range(len(e) + 1))
        self.kind = kind
        self.eos = tokenizer.eos_token_id
        self.forbidden: dict[tuple[object, torch.device], torch.Tensor] = {}
        self.token_checks = 0
        self.tracker = LineTracker(self.vocab, self._constrained)

    def _constrained(self, lines: torch.Tensor) -> torch.Tensor:
        if self.kind == "element":
            return lines == 0
        return (lines >= 2) & (lines % 2 == 0)

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

    def _key(self, index: int, partial: str) -> tuple[int, str]:
        """Positions that allow the same tokens share a key: past line 2, only parity matters."""
        on_element = self._is_element_line(index)
        # Off an element line nothing on the line is constrained, only what a newline starts.
        return (
            index if index < 2 or self.kind == "element" else 2 + index % 2,
            partial if on_element else "",
        )

    def _mask(self, index: int, partial: str) -> torch.Tensor:
        """Allowed tokens: on an element line, the symbols' suffixes; anywhere, newline tokens checked."""
        on_element = self._is_element_line(index)
        if not on_element:
            partial = ""
        allowed = torch.full((self.vocab_size,), not on_element, dtype=torch.bool)
        if on_element:  # tokens without a newline: exactly the rest of a symbol's prefix
            rests = {
                q[len(partial) :] for q in self.prefixes if q.startswith(partial) and len(q) > len(partial)
            }
            ids = [t for rest in rests for t in self.vocab.by_surface.get(rest, ())]
            allowed[ids] = True
            self.token_checks += len(rests)
        for token, piece in self.vocab.with_newline:
            allowed[token] = self._token_ok(index, partial, piece)
        self.token_checks += len(self.vocab.with_newline)
        if self.eos is not None and self.eos < self.vocab_size:
            if self.kind == "element":
                allowed[self.eos] = on_element and partial in self.elements
            else:
                allowed[self.eos] = not on_element or partial == ""
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask the scores of tokens that would write a forbidden symbol."""
        self.tracker.advance(input_ids)
        watched = set(self.tracker.watched)
        # After the symbol's line of an infill answer nothing is constrained.
        candidates = self.tracker.watched if self.kind == "element" else range(input_ids.shape[0])
        lines = self.tracker.lines.tolist()
        groups: dict[object, tuple[torch.Tensor, list[int]]] = {}
        for row in candidates:
            partial = self.tracker.text[row] if row in watched else ""
            if row in watched and partial not in self.prefixes:
                continue  # a finished row (padding after EOS): nothing left to constrain
            key, forbidden = self._forbidden(lines[row], partial, scores.device)
            groups.setdefault(key, (forbidden, []))[1].append(row)
        _mask_rows(scores, groups)
        return scores

    def _forbidden(self, index: int, partial: str, device: torch.device) -> tuple[object, torch.Tensor]:
        key = self._key(index, partial)
        cached = self.forbidden.get((key, device))
        if cached is None:
            cached = self.forbidden[(key, device)] = ~self._mask(index, partial).to(device)
        return key, cached


_TWO_ANGLES = re.compile(r"(\d+) (\d+) (\d*)")


class AngleGuard(LogitsProcessor):
    """Keeps the third angle inside the range where the three angles span a volume."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int) -> None:
        self.vocab = vocab_text(tokenizer, vocab_size)
        self.vocab_size = vocab_size
        self.eos = tokenizer.eos_token_id
        # Per (alpha, beta, digits so far) and device; None where no third angle fits (left alone).
        self.forbidden: dict[tuple[object, torch.device], torch.Tensor | None] = {}
        self.token_checks = 0
        self.tracker = LineTracker(self.vocab, lambda lines: lines == 1)

    @staticmethod
    def _allowed(valid: frozenset[str], digits: str, piece: str) -> bool:
        head, newline, _ = piece.partition("\n")
        text = digits + head
        if newline:
            return text in valid
        return bool(text) and any(v.startswith(text) for v in valid)

    def _mask(self, alpha: int, beta: int, digits: str) -> torch.Tensor:
        """Only tokens of digits (with the newline that ends the line) can write an angle."""
        low, high = abs(alpha - beta), min(alpha + beta, 360 - alpha - beta)
        valid = frozenset(str(v) for v in range(low + 1, high))
        starts = frozenset(v[:i] for v in valid for i in range(1, len(v) + 1))
        allowed = torch.zeros(self.vocab_size, dtype=torch.bool)
        ids = [
            token
            for token, head, newline in self.vocab.digit_heads
            if (digits + head in valid if newline else digits + head in starts)
        ]
        allowed[ids] = True
        self.token_checks += len(self.vocab.digit_heads)
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask third-angle tokens that would leave no valid cell."""
        self.tracker.advance(input_ids)
        groups: dict[object, tuple[torch.Tensor, list[int]]] = {}
        for row in self.tracker.watched:
            match = _TWO_ANGLES.fullmatch(self.tracker.text[row])
            if match is None:
                continue
            key = (int(match[1]), int(match[2]), match[3])
            if key not in groups:
                if (key, scores.device) not in self.forbidden:
                    mask = self._mask(*key)
                    self.forbidden[(key, scores.device)] = ~mask.to(scores.device) if mask.any() else None
                forbidden = self.forbidden[(key, scores.device)]
                if forbidden is None:
                    continue
                groups[key] = (forbidden, [])
            groups[key][1].append(row)
        _mask_rows(scores, groups)
        return scores
