"""The language-model stage's settings: the tiny base's shape, training, LoRA, per-use draws, sampling.

Frozen dataclasses that hold the defaults (the schema's, a test holds it) and read their config
sections. Light to import (no torch, no transformers), so the workflow and the command line's
defaults take them without loading a model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from xtalgen.errors import InputError, in_terms
from xtalgen.setting_fields import described

if TYPE_CHECKING:
    from collections.abc import Mapping

    from xtalgen.text.formula_style import FormulaStyle

__all__ = [
    "Constraint",
    "DrawSettings",
    "FinetuneSettings",
    "LoraSettings",
    "SampleSettings",
    "TinyModelSettings",
    "TinyPretrainSettings",
    "TrainSettings",
]

Constraint = Literal["none", "elements", "format"]


# Help texts of the keys that fine-tuning and the tiny base's pretraining share.
_PEAK_RATE_HELP = "peak learning rate (cosine, warmup)"
_DECAY_HELP = (
    "hold the peak rate, then decay by cosine over this last fraction of the steps (default: cosine "
    "over the whole run)"
)
_ELEMENT_WEIGHT_HELP = (
    "loss weight of the crystal's element lines (with the newline opening each) and EOS against 1 "
    "for other tokens"
)


@dataclass(frozen=True)
class SampleSettings:
    """Decoding settings; temperature 0.7 is one of the paper's two (its Table 1 also has 1.0)."""

    temperature: float = described(0.7, "sampling temperature")
    top_p: float = described(0.9, "nucleus sampling threshold")
    max_new_tokens: int = described(500, "tokens per completion")
    batch_size: int = described(32, "prompts per generate() call")
    max_attempts: int = described(3, "draws per sample until one parses")
    seed: int = described(0, "sampling seed")
    constraint: Constraint = described("format", "constrained decoding")
    elements: tuple[str, ...] | None = described(None, "allowed element symbols (default: H to Pu)")
    max_sites: int = described(20, "most sites of a sampled crystal")
    # The element lines of generated crystals (not infill answers) at their own temperature; None:
    # ``temperature`` everywhere, as the paper samples.
    element_temperature: float | None = described(
        None,
        "temperature of the element lines of generated crystals (default: the sampling temperature "
        "everywhere)",
    )

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

    vocab_size: int = described(512, "BPE vocabulary size")
    hidden_size: int = described(192, "hidden size")
    layers: int = described(4, "transformer layers")
    heads: int = described(4, "attention heads")
    intermediate_size: int = described(512, "MLP width")
    max_position: int = 1024

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TinyModelSettings:
        """The shape from the workflow's ``model.tiny`` section (the tokenizer sets the vocabulary)."""
        names = ("hidden_size", "layers", "heads", "intermediate_size")
        return cls(**{k: section[k] for k in names if k in section})


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings; the defaults are the paper's LoRA run (lr 5e-4, cosine)."""

    learning_rate: float = described(5e-4, _PEAK_RATE_HELP)
    warmup_steps: int = described(10, "learning-rate warmup")
    epochs: float = described(1.0, "passes over the records")
    max_steps: int = described(-1, "optimizer steps; > 0 overrides the epochs")
    batch_size: int = described(8, "records per device step")
    # effective batch = batch_size x grad_accum x devices
    grad_accum: int = described(1, "gradient accumulation steps")
    max_length: int = described(512, "tokens per sequence")
    eval_steps: int = described(50, "validation loss interval")
    save_steps: int = described(50, "checkpoint interval")
    logging_steps: int = 10
    seed: int = described(0, "training seed")
    precision: str = described("auto", "weights and compute; auto: bf16 (or fp16) on GPU, fp32 on CPU")
    gradient_checkpointing: bool = described(False, "trade compute for memory")
    completion_only: bool = described(False, "loss on the completion only, not the prompt")
    eval_on_start: bool = False  # a validation loss at step 0: the base's, before any update
    # Batches of like length (shuffled mega-batches sorted by length): on MP-20 strings a random batch
    # of 16 is 69% padding, a grouped one 1.5%.
    group_by_length: bool = described(
        True, "batches of like length, which skip most padding (off: random batches)"
    )
    # None: cosine decay over the whole run. A fraction: the peak rate holds until the last
    # ``decay_fraction`` of ``max_steps``, which then decay by cosine (warmup-stable-decay), so that a
    # run can be lengthened without changing the rate of the steps it shares with a shorter one.
    decay_fraction: float | None = described(None, _DECAY_HELP)
    # Loss weight of the crystal's element lines and EOS against 1 for every other token (pretraining
    # of the tiny base; records.element_weights says why). The validation loss stays unweighted.
    element_weight: float = described(1.0, _ELEMENT_WEIGHT_HELP)

    @classmethod
    def for_tiny_base(cls, section: Mapping[str, Any], seed: int) -> TrainSettings:
        """Pretraining of the tiny base from the workflow's ``model.tiny`` section.

        The base is evaluated and saved four times over its steps; the rest keeps the defaults here.
        """
        return TinyPretrainSettings.from_config(section).train_settings(seed)

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
class TinyPretrainSettings:
    """Pretraining of the tiny base (``model.tiny``): a higher rate and batch than a LoRA run.

    A randomly initialised model of 1 to 2 M parameters needs them.
    """

    steps: int = described(200, "optimizer steps")
    batch_size: int = described(16, "records per device step")
    learning_rate: float = described(2e-3, _PEAK_RATE_HELP)
    decay_fraction: float | None = described(None, _DECAY_HELP)
    element_weight: float = described(1.0, _ELEMENT_WEIGHT_HELP)

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TinyPretrainSettings:
        """Settings from the workflow's ``model.tiny`` section; a key it lacks keeps its default."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})

    def train_settings(self, seed: int) -> TrainSettings:
        """The training run: evaluated and saved four times over its steps."""
        every = max(1, self.steps // 4)
        return TrainSettings(
            learning_rate=self.learning_rate,
            max_steps=self.steps,
            batch_size=self.batch_size,
            eval_steps=every,
            save_steps=every,
            logging_steps=max(1, min(10, every)),
            seed=seed,
            decay_fraction=self.decay_fraction,
            element_weight=self.element_weight,
        )


@dataclass(frozen=True)
class LoraSettings:
    """The paper's rank 8 and alpha 32; dropout 0.05 and q/k/v/o are this project's defaults.

    The paper's code adapts peft's default modules for LLaMA, q_proj and v_proj.
    """

    r: int = described(8, "adapter rank")
    alpha: int = described(32, "adapter scale")
    dropout: float = described(0.05, "adapter dropout")
    target_modules: tuple[str, ...] = described(
        ("q_proj", "k_proj", "v_proj", "o_proj"), "modules that get an adapter"
    )


@dataclass(frozen=True)
class DrawSettings:
    """How records are drawn per use: the data stage's infill share, translations and formula style."""

    seed: int = 0
    infill_fraction: float = described(1.0 / 3.0, "share of draws that are infill tasks")
    translate: bool = described(True, "a random translation of each drawn structure")
    formula_style: FormulaStyle = "reduced"


@dataclass(frozen=True)
class FinetuneSettings:
    """The finetune stage as one value: training, adapter, per-use draws and how the base loads.

    The workflow builds it from its config and hands it to ``xtalgen lora train --settings`` as JSON,
    so that the command (which a launcher such as ``accelerate launch`` needs) and the config read
    one set of names.
    """

    train: TrainSettings = TrainSettings()
    lora: LoraSettings = LoraSettings()
    # None: the data stage's pre-drawn records (finetune.draw: fixed).
    draw: DrawSettings | None = DrawSettings()
    val_records: int | None = described(256, "validation records used (None: all)")
    quantization: str = described("none", "QLoRA base weights through bitsandbytes (CUDA)")
    trust_remote_code: bool = described(False, "let a hub model run its own code")
    gpus: int = described(0, "GPUs; above 1 the workflow trains under accelerate launch")
    # How the training prompts state formulas (the data stage's style); saved with the adapter.
    formula_style: FormulaStyle = "reduced"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FinetuneSettings:
        """Settings from the workflow's ``finetune``, ``data`` and ``model`` sections."""
        ft = config.get("finetune") or {}
        data = config.get("data") or {}
        train_names = [f.name for f in fields(TrainSettings)]
        train_values = {k: ft[k] for k in train_names if k in ft}
        # A loss line at least as often as a validation loss, at most every 10 steps.
        train_values.setdefault("logging_steps", max(1, min(10, int(ft.get("eval_steps", 50)))))
        train = TrainSettings(**train_values)
        lora_section = dict(ft.get("lora") or {})
        if "target_modules" in lora_section:
            lora_section["target_modules"] = tuple(lora_section["target_modules"])
        draw = None
        if ft.get("draw", "per_use") == "per_use":
            draw = DrawSettings(
                seed=train.seed,
                infill_fraction=data.get("infill_fraction", DrawSettings.infill_fraction),
                translate=(data.get("augment") or {}).get("translate", True),
                formula_style=data.get("formula_style", "reduced"),
            )
        return cls(
            train=train,
            lora=LoraSettings(**lora_section),
            draw=draw,
            val_records=ft.get("val_records", 256),
            quantization=ft.get("quantization", "none"),
            trust_remote_code=bool((config.get("model") or {}).get("trust_remote_code", False)),
            gpus=int(ft.get("gpus", 0)),
            formula_style=data.get("formula_style", "reduced"),
        )

    def to_json(self) -> str:
        """The settings as JSON, for the command that trains."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FinetuneSettings:
        """The settings ``to_json`` wrote."""
        values = json.loads(text)
        lora = values.pop("lora")
        lora["target_modules"] = tuple(lora["target_modules"])
        draw = values.pop("draw")
        return cls(
            train=TrainSettings(**values.pop("train")),
            lora=LoraSettings(**lora),
            draw=None if draw is None else DrawSettings(**draw),
            **values,
        )
