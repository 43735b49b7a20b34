"""Prompt records as token sequences, with the loss on the completion only or on all of it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xtalgen.errors import InputError, setting

if TYPE_CHECKING:
    from pathlib import Path

    from transformers import PreTrainedTokenizerBase

__all__ = [
    "CompletionDataset",
    "PadCollator",
    "TokenizedRecord",
    "element_weights",
    "read_records",
    "report_cuts",
    "tokenize_record",
]

IGNORE = -100
log = logging.getLogger(__name__)


def read_records(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Prompt records (JSON lines with prompt and completion) of the data stage."""
    records = []
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(records) >= limit:
                break
            try:
                record = json.loads(line)
                if not isinstance(record["prompt"], str) or not isinstance(record["completion"], str):
                    raise TypeError("prompt and completion must be strings")
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise InputError(f"{path}, line {number}: not a prompt record ({err})") from err
            records.append(record)
    if not records:
        raise InputError(f"{path}: no prompt records; run the data stage first")
    return records


@dataclass(frozen=True)
class TokenizedRecord:
    """Token ids and labels of one record; ``cut`` counts the tokens lost to ``max_length``."""

    input_ids: list[int]
    labels: list[int]
    cut: int = 0


@dataclass(frozen=True)
class _Encoded:
    """Tokens of ``prompt+completion`` without special tokens.

    Character offsets are there where the tokenizer gives them (fast tokenizers).
    """

    ids: list[int]
    offsets: list[tuple[int, int]] | None


def _encode(tokenizer: PreTrainedTokenizerBase, fulls: list[str]) -> list[_Encoded]:
    """Every text in one call.

    A fast tokenizer encodes a batch in Rust, where one call per text costs about a millisecond of
    Python each (35 s for the tiny base's 13,000 records).
    """
    try:
        batch = tokenizer(fulls, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):
        plain = tokenizer(fulls, add_special_tokens=False)["input_ids"]
        return [_Encoded(list(ids), None) for ids in plain]
    return [
        _Encoded(list(ids), [tuple(span) for span in spans])
        for ids, spans in zip(batch["input_ids"], batch["offset_mapping"], strict=True)
    ]


def _prompt_tokens(tokenizer: PreTrainedTokenizerBase, prompt: str, encoded: _Encoded) -> int:
    """How many of the full text's tokens belong to the prompt.

    A token belongs to the completion when it ends after the prompt's last character, so a token that
    straddles the boundary is learned, never masked. Tokenizers without offsets fall back to the
    longest common prefix of the prompt's own tokens and the full text's.
    """
    if encoded.offsets is None:
        alone = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        n = 0
        while n < min(len(alone), len(encoded.ids)) and alone[n] == encoded.ids[n]:
            n += 1
        return n
    return sum(1 for _, end in encoded.offsets if end <= len(prompt))


def _tokenized(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    encoded: _Encoded,
    max_length: int,
    completion_only: bool,
) -> TokenizedRecord:
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    n_prompt = len(bos) + _prompt_tokens(tokenizer, prompt, encoded)
    ids = bos + encoded.ids + [tokenizer.eos_token_id]
    labels = ([IGNORE] * n_prompt + ids[n_prompt:]) if completion_only else list(ids)
    cut = max(0, len(ids) - max_length)
    return TokenizedRecord(ids[:max_length], labels[:max_length], cut)


def tokenize_record(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    completion: str,
    max_length: int,
    *,
    completion_only: bool = False,
) -> TokenizedRecord:
    """``<bos> prompt+completion <eos>``, tokenized as one text, as the paper's code does.

    Tokenizing the completion alone would start it with tokens the full text never has there (with
    SentencePiece, a bare "▁" after the prompt's newline), which the model would learn and the format
    constraint then forbid. The loss mask sits at the prompt boundary.
    """
    encoded = _encode(tokenizer, [prompt + completion])[0]
    return _tokenized(tokenizer, prompt, encoded, max_length, completion_only)


def _weights(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    completion: str,
    encoded: _Encoded,
    *,
    n_tokens: int,
    weight: float,
) -> list[float]:
    if encoded.offsets is None:
        raise InputError(
            "weighting the element lines needs a tokenizer with offsets (a fast tokenizer), "
            f"which {type(tokenizer).__name__} is not: leave the element weight at 1"
        )
    full = prompt + completion
    on_element = np.zeros(len(full), dtype=bool)
    start = len(prompt)
    for number, line in enumerate(completion.split("\n")):
        if number >= 2 and number % 2 == 0:
            on_element[start - 1 : start + len(line)] = True
        start += len(line) + 1
    seen = np.concatenate([[0], np.cumsum(on_element)])
    span = np.asarray(encoded.offsets, dtype=int).reshape(-1, 2)
    inner = np.where(seen[span[:, 1]] > seen[span[:, 0]], weight, 1.0)
    bos = [1.0] if tokenizer.bos_token_id is not None else []
    return (bos + inner.tolist() + [weight])[:n_tokens]


def element_weights(
    tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str, n_tokens: int, weight: float
) -> list[float]:
    """Loss weights of ``<bos> prompt+completion <eos>``: ``weight`` on element lines and EOS, else 1.

    Which element comes next, and when the crystal ends, are one token in fifteen of a crystal string;
    the coordinates' digits outweigh them in an even loss, and a small base learns late, if at all,
    to write the composition a prompt states. Weighting those tokens is where it learns it. After a
    coordinate line the crystal either goes on (the newline that opens an element line, weighted with
    it) or ends (EOS): both answers weigh alike, or the weighted loss would teach the base to end
    crystals early.
    """
    encoded = _encode(tokenizer, [prompt + completion])[0]
    return _weights(tokenizer, prompt, completion, encoded, n_tokens=n_tokens, weight=weight)


def report_cuts(records: list[TokenizedRecord], what: str, max_length: int) -> int:
    """Say how many records ``max_length`` cut, and by how much; returns the count."""
    cut = [r.cut for r in records if r.cut]
    if cut:
        log.warning(
            "%s: %d of %d records are longer than max_length %d and were cut (by up to %d tokens; "
            "the cut part, EOS included, is not learned): raise %s",
            what,
            len(cut),
            len(records),
            max_length,
            max(cut),
            setting("finetune.max_length"),
        )
    return len(cut)


class CompletionDataset(torch.utils.data.Dataset):
    """Pre-drawn records (the data stage's prompts.jsonl), tokenized once.

    The paper's code puts the loss on the whole sequence; ``completion_only`` puts it on what the
    model must generate, which is what sampling asks of it.
    """

    def __init__(
        self,
        records: list[dict[str, Any]],
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        *,
        completion_only: bool = False,
        what: str = "records",
        element_weight: float = 1.0,
    ) -> None:
        encoded = _encode(tokenizer, [r["prompt"] + r["completion"] for r in records])
        tokenized = [
            _tokenized(tokenizer, r["prompt"], e, max_length, completion_only)
            for r, e in zip(records, encoded, strict=True)
        ]
        self.cut = report_cuts(tokenized, what, max_length)
        self.items: list[dict[str, list[Any]]] = [
            {"input_ids": t.input_ids, "labels": t.labels} for t in tokenized
        ]
        if element_weight != 1.0:
            for item, record, e in zip(self.items, records, encoded, strict=True):
                item["weights"] = _weights(
                    tokenizer,
                    record["prompt"],
                    record["completion"],
                    e,
                    n_tokens=len(item["input_ids"]),
                    weight=element_weight,
                )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, list[Any]]:
        return self.items[index]


@dataclass
class PadCollator:
    """Right-pads a training batch; padding is masked out of attention and loss.

    Loss weights, where the records carry them, pad with zeros and travel as ``weights``.
    """

    pad_token_id: int

    def __call__(self, batch: list[dict[str, list[Any]]]) -> dict[str, torch.Tensor]:
        """Tensors of one batch."""
        width = max(len(item["input_ids"]) for item in batch)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            n = len(item["input_ids"])
            ids[row, :n] = torch.tensor(item["input_ids"])
            labels[row, :n] = torch.tensor(item["labels"])
            mask[row, :n] = 1
        out = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        if all("weights" in item for item in batch):
            weights = torch.zeros((len(batch), width), dtype=torch.float32)
            for row, item in enumerate(batch):
                weights[row, : len(item["weights"])] = torch.tensor(item["weights"])
            out["weights"] = weights
        return out
