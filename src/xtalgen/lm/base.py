"""The causal language model the LoRA stage adapts: a local folder or a Hugging Face hub id."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from xtalgen.dataset.sources import offline
from xtalgen.errors import XtalgenError, in_terms, setting

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "BaseModelUnavailableError",
    "ModelSpec",
    "load_base_model",
    "load_tokenizer",
    "looks_like_path",
]

Quantization = Literal["none", "4bit", "8bit"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]


class BaseModelUnavailableError(XtalgenError, RuntimeError):
    """The base model cannot be had: no such folder, offline, or the hub refused it."""


@dataclass(frozen=True)
class ModelSpec:
    """Which model, and how to hold its weights."""

    name_or_path: str
    trust_remote_code: bool = False
    precision: Precision = "auto"
    quantization: Quantization = "none"


def looks_like_path(name: str) -> bool:
    """A folder path rather than a hub id (``org/name``, at most one slash)."""
    return name.startswith(("/", ".", "~", "$")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _check_reachable(name_or_path: str) -> str:
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        return str(folder)
    if looks_like_path(name_or_path):
        raise BaseModelUnavailableError(
            f"{setting('model.base')} {name_or_path!r} is not a folder: give a folder holding "
            "config.json and the "
            "weights, or a Hugging Face hub id such as meta-llama/Llama-2-7b-hf"
        )
    if offline():
        raise BaseModelUnavailableError(
            f"{setting('model.base')} {name_or_path!r} is a hub id, but HF_HUB_OFFLINE or XTALGEN_OFFLINE "
            "is set: download it where there is network (huggingface-cli download) and set "
            f"{setting('model.base')} to that folder, "
            + in_terms("or use model.base: tiny", "or build a base with `xtalgen tiny pretrain`")
        )
    return name_or_path


def load_tokenizer(name_or_path: str, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer, padded on the left (for batched generation) and with a pad token."""
    from transformers import AutoTokenizer  # noqa: PLC0415

    source = _check_reachable(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        raise BaseModelUnavailableError(f"cannot load the tokenizer of {name_or_path!r}: {err}") from err
    if tokenizer.pad_token is None:
        # LLaMA-style tokenizers have no pad token; EOS stands in, and attention masks hide it.
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _dtype(precision: Precision):  # noqa: ANN202 - torch dtype
    import torch  # noqa: PLC0415

    if precision == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_base_model(spec: ModelSpec) -> PreTrainedModel:
    """The model, in the configured precision, quantized to 4 or 8 bits for QLoRA when asked."""
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    source = _check_reachable(spec.name_or_path)
    kwargs: dict = {"trust_remote_code": spec.trust_remote_code, "dtype": _dtype(spec.precision)}
    if spec.quantization != "none":
        if not torch.cuda.is_available():
            raise BaseModelUnavailableError(
                f"finetune.quantization {spec.quantization} needs a CUDA GPU (bitsandbytes); "
                "set it to none on CPU"
            )
        from transformers import BitsAndBytesConfig  # noqa: PLC0415

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=spec.quantization == "4bit",
            load_in_8bit=spec.quantization == "8bit",
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
    try:
        return AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        raise BaseModelUnavailableError(
            f"cannot load {setting('model.base')} {spec.name_or_path!r}: {err}"
        ) from err
