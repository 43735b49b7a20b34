"""Training records drawn anew each time a structure is used, as the paper trains.

The paper draws the task (generation or infill, and which conditions) and a random translation every
time a structure is fed to the model, so each epoch sees other strings of the same crystals. Here the
draw is a pure function of (seed, epoch, index): reproducible, resumable from any checkpoint, and
the same in every data-loader worker. The data stage's pre-drawn records (prompts.jsonl) stay
available as ``finetune.draw: fixed``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from transformers import TrainerCallback

from xtalgen.errors import InputError, setting
from xtalgen.lm.records import tokenize_record
from xtalgen.lm.settings import DrawSettings
from xtalgen.structures_io import read_structures
from xtalgen.text.prompts import CONDITION_KEYS, make_record

if TYPE_CHECKING:
    from pathlib import Path

    from pymatgen.core import Structure
    from transformers import PreTrainedTokenizerBase

__all__ = ["DrawSettings", "DrawnRecords", "EpochSetter", "read_training_structures"]
log = logging.getLogger(__name__)


def read_training_structures(path: Path) -> list[tuple[str, Structure, dict[str, Any]]]:
    """``(id, structure, conditions)`` of a data-stage structures table; unreadable rows are skipped."""
    table = pd.read_csv(path, keep_default_na=False, dtype={"id": str, "cif": str})
    properties = {
        str(row["id"]): {k: row[k] for k in CONDITION_KEYS if k in row and row[k] not in ("", None)}
        for row in table.to_dict("records")
    }
    rows = [(i, s, properties.get(i, {})) for i, s, _ in read_structures(path) if s is not None]
    if not rows:
        raise InputError(f"{path}: no readable structures to draw training records from")
    return rows


class DrawnRecords(torch.utils.data.Dataset):
    """Item ``index`` of epoch ``epoch``: a task and translation drawn from (seed, epoch, index)."""

    def __init__(
        self,
        structures: list[tuple[str, Structure, dict[str, Any]]],
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        draw: DrawSettings | None = None,
        *,
        completion_only: bool = False,
    ) -> None:
        draw = draw or DrawSettings()
        self.structures = structures
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.seed = draw.seed
        self.infill_fraction = draw.infill_fraction
        self.translate = draw.translate
        self.formula_style = draw.formula_style
        self.completion_only = completion_only
        self.epoch = 0
        self.cut: set[str] = set()

    def set_epoch(self, epoch: int) -> None:
        """Called at the start of every epoch (by :class:`EpochSetter` and by accelerate)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.structures)

    def record(self, index: int) -> dict[str, Any]:
        """The prompt record drawn for ``index`` in the current epoch."""
        record_id, structure, properties = self.structures[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        translation = rng.random(3) if self.translate else None
        drawn = make_record(
            structure,
            properties,
            rng,
            record_id=record_id,
            copy=self.epoch,
            infill_fraction=self.infill_fraction,
            translation=translation,
            formula_style=self.formula_style,
        )
        return drawn.to_dict()

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        record = self.record(index)
        tokens = tokenize_record(
            self.tokenizer,
            record["prompt"],
            record["completion"],
            self.max_length,
            completion_only=self.completion_only,
        )
        if tokens.cut and record["id"] not in self.cut:
            self.cut.add(record["id"])
            log.warning(
                "training record of %s is %d tokens over max_length %d and was cut: raise %s",
                record["id"],
                tokens.cut,
                self.max_length,
                setting("finetune.max_length"),
            )
        return {"input_ids": tokens.input_ids, "labels": tokens.labels}


class EpochSetter(TrainerCallback):
    """Tells the drawn dataset which epoch the Trainer is in, also after resuming from a checkpoint."""

    def __init__(self, dataset: DrawnRecords) -> None:
        self.dataset = dataset

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """The epoch the Trainer starts (or resumes in)."""
        self.dataset.set_epoch(int(state.epoch or 0))
