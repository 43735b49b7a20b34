"""Prompt records as token sequences, with the loss on the completion only or on all of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from pathlib import Path

    from transformers import PreTrainedTokenizerBase

__all__ = ["CompletionDataset", "PadCollator", "read_records"]

IGNORE = -100


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
                raise ValueError(f"{path}, line {number}: not a prompt record ({err})") from err
            records.append(record)
    if not records:
        raise ValueError(f"{path}: no prompt records; run the data stage first")
    return records


class CompletionDataset(torch.utils.data.Dataset):
    """``<bos> prompt completion <eos>``, cut to ``max_length``; prompt tokens masked if asked.

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
    ) -> None:
        self.items = []
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        eos = [tokenizer.eos_token_id]
        for record in records:
            prompt = bos + tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
            completion = tokenizer(record["completion"], add_special_tokens=False)["input_ids"] + eos
            ids = (prompt + completion)[:max_length]
            labels = ([IGNORE] * len(prompt) if completion_only else prompt) + completion
            self.items.append({"input_ids": ids, "labels": labels[:max_length]})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.items[index]


@dataclass
class PadCollator:
    """Right-pads a training batch; padding is masked out of attention and loss."""

    pad_token_id: int

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
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
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
