"""The language-model stage's settings: the tiny base's shape, training, LoRA, per-use draws, sampling.

Frozen dataclasses that hold the defaults (the schema's, a test holds it) and read their config
sections. Light to import (no torch, no transformers), so the workflow and the command line's
defaults take them without loading a model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from xtalgen.errors import InputError, in_terms

if TYPE_CHECKING:
    from collections.abc import Mapping

    from xtalgen.text.formula_style import FormulaStyle

__all__ = [
    "Constraint",
    "DrawSettings",
    "LoraSettings",
    "SampleSettings",
    "TinyModelSettings",
    "TrainSettings",
]

Constraint = Literal["none", "elements", "format"]


@dataclass(frozen=True)
class SampleSettings:
    """Decoding settings; temperature 0.7 is one of the paper's two (its Table 1 also has 1.0)."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 500
    batch_size: int = 32
    max_attempts: int = 3
    seed: int = 0
    constraint: Constraint = "format"
    elements: tuple[str, ...] | None = None
    max_sites: int = 20
    # The element lines of generated crystals (not infill answers) at their own temperature; None:
    # ``temperature`` everywhere, as the paper samples.
    element_temperature: float | None = None

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> SampleSettings:
        """Settings from the workflow's ``sample`` section; a key it lacks keeps its default here."""
        names = [f.name for f in fields(cls)]
        values = {k: section[k] for k in names if k in section}
        if values.get("elements") is not None:
            values["elements"] = tuple(values["elements"])
        return cls(**values)

    def config_values(self) -> dict[str, Any]:
        """The ``sample`` keys these settings stand for."""
        values = asdict(self)
        values["elements"] = None if self.elements is None else list(self.elements)
        return values


@dataclass(frozen=True)
class TinyModelSettings:
    """Shape of the tiny LLaMA: 1.9 M parameters at these defaults, 0.92 M in the embedded config."""

    vocab_size: int = 512
    hidden_size: int = 192
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 512
    max_position: int = 1024

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TinyModelSettings:
        """The shape from the workflow's ``model.tiny`` section (the tokenizer sets the vocabulary)."""
        names = ("hidden_size", "layers", "heads", "intermediate_size")
        return cls(**{k: section[k] for k in names if k in section})


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings; the defaults are the paper's LoRA run (lr 5e-4, cosine)."""

    learning_rate: float = 5e-4
    warmup_steps: int = 10
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 8  # per device
    grad_accum: int = 1  # effective batch = batch_size x grad_accum x devices
    max_length: int = 512
    eval_steps: int = 50
    save_steps: int = 50
    logging_steps: int = 10
    seed: int = 0
    precision: str = "auto"  # auto: bf16 (or fp16) on GPU, fp32 on CPU
    gradient_checkpointing: bool = False
    completion_only: bool = False
    eval_on_start: bool = False  # a validation loss at step 0: the base's, before any update
    # Batches of like length (shuffled mega-batches sorted by length): on MP-20 strings a random batch
    # of 16 is 69% padding, a grouped one 1.5%.
    group_by_length: bool = True
    # None: cosine decay over the whole run. A fraction: the peak rate holds until the last
    # ``decay_fraction`` of ``max_steps``, which then decay by cosine (warmup-stable-decay), so that a
    # run can be lengthened without changing the rate of the steps it shares with a shorter one.
    decay_fraction: float | None = None
    # Loss weight of the crystal's element lines and EOS against 1 for every other token (pretraining
    # of the tiny base; records.element_weights says why). The validation loss stays unweighted.
    element_weight: float = 1.0

    @classmethod
    def for_tiny_base(cls, section: Mapping[str, Any], seed: int) -> TrainSettings:
        """Pretraining of the tiny base from the workflow's ``model.tiny`` section.

        The base is evaluated and saved four times over its steps; the rest keeps the defaults of
        ``xtalgen tiny pretrain``.
        """
        steps = int(section.get("steps", 200))
        every = max(1, steps // 4)
        return cls(
            learning_rate=section.get("learning_rate", 2e-3),
            max_steps=steps,
            batch_size=section.get("batch_size", 16),
            eval_steps=every,
            save_steps=every,
            logging_steps=max(1, min(10, every)),
            seed=seed,
            decay_fraction=section.get("decay_fraction"),
            element_weight=section.get("element_weight", 1.0),
        )

    def __post_init__(self) -> None:
        if self.element_weight <= 0.0:
            raise InputError(f"element_weight must be positive, not {self.element_weight}")
        if self.decay_fraction is None:
            return
        if not 0.0 < self.decay_fraction <= 1.0:
            raise InputError(f"decay_fraction must be in (0, 1], not {self.decay_fraction}")
        if self.max_steps <= 0:
            raise InputError(
                "a decay_fraction needs a step count: set "
                + in_terms("max_steps (CLI: --max-steps)", "--max-steps")
            )

    def scheduler(self) -> tuple[str, dict[str, int]]:
        """The scheduler's name in transformers, and its keyword arguments."""
        if self.decay_fraction is None:
            return "cosine", {}
        decay = max(1, round(self.decay_fraction * self.max_steps))
        return "warmup_stable_decay", {"num_decay_steps": decay}


@dataclass(frozen=True)
class LoraSettings:
    """The paper's rank 8 and alpha 32; dropout 0.05 and q/k/v/o are this project's defaults.

    The paper's code adapts peft's default modules for LLaMA, q_proj and v_proj.
    """

    r: int = 8
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class DrawSettings:
    """How records are drawn per use: the data stage's infill share, translations and formula style."""

    seed: int = 0
    infill_fraction: float = 1.0 / 3.0
    translate: bool = True
    formula_style: FormulaStyle = "reduced"
