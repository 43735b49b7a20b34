"""The embedded base model: a tokenizer and a small LlamaForCausalLM pretrained on crystal strings.

No pretrained language model can be downloaded on every machine, so the default run builds its own
base: a few million parameters, pretrained on the training prompts on CPU in minutes, saved as an
ordinary transformers folder that the LoRA stage then adapts like any hub model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from transformers import LlamaConfig, LlamaForCausalLM, set_seed

from xtalgen.io import atomic_folder
from xtalgen.lm.base import load_tokenizer
from xtalgen.lm.prompt_style import save_prompt_style
from xtalgen.lm.records import CompletionDataset, PadCollator
from xtalgen.lm.settings import TinyModelSettings
from xtalgen.lm.training import TrainSettings, fingerprint, train

if TYPE_CHECKING:
    from pathlib import Path

    from xtalgen.text.formula_style import FormulaStyle

__all__ = ["TinyModelSettings", "build_tiny_model", "pretrain_tiny"]


def build_tiny_model(settings: TinyModelSettings, tokenizer: Any) -> LlamaForCausalLM:
    """A randomly initialised LlamaForCausalLM sized by ``settings``, for ``tokenizer``."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        intermediate_size=settings.intermediate_size,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads,
        num_key_value_heads=settings.heads,
        max_position_embeddings=settings.max_position,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def pretrain_tiny(
    tokenizer_dir: Path,
    train_records: list[dict[str, Any]],
    val_records: list[dict[str, Any]] | None,
    out_dir: Path,
    *,
    model_settings: TinyModelSettings,
    train_settings: TrainSettings,
    formula_style: FormulaStyle | None = None,
) -> LlamaForCausalLM:
    """Pretrain on full sequences; the model and its tokenizer are saved in ``out_dir/model``.

    ``formula_style``, how the records state formulas, is saved with the model for sampling.
    """
    set_seed(train_settings.seed)
    tokenizer = load_tokenizer(str(tokenizer_dir))
    model = build_tiny_model(model_settings, tokenizer)
    length = min(train_settings.max_length, model_settings.max_position)
    train_set = CompletionDataset(
        train_records, tokenizer, length, what="pretraining", element_weight=train_settings.element_weight
    )
    val_set = CompletionDataset(val_records, tokenizer, length, what="validation") if val_records else None
    collator = PadCollator(tokenizer.pad_token_id)
    stamp = fingerprint(model_settings, train_settings, len(tokenizer), train_records, val_records)
    train(model, train_set, val_set, collator, out_dir=out_dir, settings=train_settings, fingerprint=stamp)
    with atomic_folder(out_dir / "model") as model_dir:  # whole or absent, whatever cuts the run
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        if formula_style is not None:
            save_prompt_style(model_dir, formula_style)
    return model
