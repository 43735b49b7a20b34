"""How many rows a sampling batch can hold on a GPU, and a batch that shrinks instead of failing.

Decoding memory beyond the weights is the KV cache: two tensors (keys, values) per layer, each
``kv_heads x head_dim`` per token, for every token of every row. LLaMA-2 7B in bf16 holds 0.5 MiB
per token, so a row of 600 tokens (a prompt and the longest crystal the format constraint allows)
holds 300 MiB, and the paper's batch of 512 would need 150 GiB beside 12.6 GiB of weights: more than
an 80 GB card. ``fitting_batch_size`` sizes the batch from the free memory at start; an
out-of-memory error during a batch (fragmentation, another process) halves the batch and redraws
those rows instead of failing the shard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from xtalgen.errors import UnavailableError

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = ["BatchFit", "fitting_batch_size", "kv_cache_bytes_per_token"]

log = logging.getLogger(__name__)

# Of the free memory, the share the KV cache may take: the rest holds activations, the logits of the
# last position (batch x vocabulary, fp32) and the allocator's fragments.
KV_SHARE = 0.8


def kv_cache_bytes_per_token(config: PretrainedConfig, dtype: torch.dtype) -> int:
    """Bytes of keys and values one token holds over every layer (grouped-query heads counted)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * torch.finfo(dtype).bits // 8


def fitting_batch_size(
    config: PretrainedConfig, dtype: torch.dtype, tokens_per_row: int, free_bytes: int, cap: int
) -> int:
    """The largest batch, at most ``cap``, whose KV cache fits in ``KV_SHARE`` of ``free_bytes``."""
    per_row = kv_cache_bytes_per_token(config, dtype) * tokens_per_row
    return max(1, min(cap, int(free_bytes * KV_SHARE) // per_row))


@dataclass
class BatchFit:
    """The batch size in force: it only shrinks, so one out-of-memory error is paid once per shard."""

    size: int
    shrunk: int = 0

    def shrink(self, failed: int) -> None:
        """Halve after ``failed`` rows ran out of memory; one row that does not fit is a stop."""
        if failed <= 1:
            raise UnavailableError(
                "sampling: one row does not fit in GPU memory; use a smaller model, fewer "
                "sample.max_new_tokens or sample.max_sites, or a larger GPU"
            )
        self.size = failed // 2
        self.shrunk += 1
        log.warning(
            "sampling: a batch of %d ran out of GPU memory; continuing at %d rows per batch "
            "(set sample.batch_size to %d to start there)",
            failed,
            self.size,
            self.size,
        )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
