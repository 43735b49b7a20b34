"""Batch sizes that fit in GPU memory, and a sampler that shrinks its batch instead of failing."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import LlamaConfig

from xtalgen.errors import UnavailableError
from xtalgen.lm.batch_memory import BatchFit, fitting_batch_size, kv_cache_bytes_per_token
from xtalgen.lm.sampling import SampleSettings, sample, unconditional_requests
from xtalgen.testing import random_llama, tokenizer_family

GIB = 1024**3
LLAMA2_7B = LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, vocab_size=32_000)
LLAMA2_70B = LlamaConfig(
    hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8, vocab_size=32_000
)
LLAMA3_8B = LlamaConfig(
    hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, vocab_size=128_256
)


def test_kv_cache_per_token_counts_grouped_query_heads():
    assert kv_cache_bytes_per_token(LLAMA2_7B, torch.bfloat16) == 512 * 1024  # 0.5 MiB
    assert kv_cache_bytes_per_token(LLAMA2_7B, torch.float32) == 1024 * 1024
    assert kv_cache_bytes_per_token(LLAMA3_8B, torch.bfloat16) == 128 * 1024  # 8 of 32 heads
    assert kv_cache_bytes_per_token(LLAMA2_70B, torch.bfloat16) == 320 * 1024


def test_the_papers_batch_of_512_does_not_fit_a_7b_model_on_an_80_gb_card():
    free = 80 * 10**9 - int(12.6 * GIB)  # an A100 80GB after LLaMA-2 7B's bf16 weights
    rows = fitting_batch_size(LLAMA2_7B, torch.bfloat16, tokens_per_row=600, free_bytes=free, cap=512)
    assert 150 < rows < 512
    assert rows * 600 * kv_cache_bytes_per_token(LLAMA2_7B, torch.bfloat16) <= 0.8 * free
    # LLaMA-3's grouped-query attention holds a quarter of the cache: the cap applies.
    assert fitting_batch_size(LLAMA3_8B, torch.bfloat16, 600, free, cap=512) == 512
    assert fitting_batch_size(LLAMA2_7B, torch.bfloat16, 600, free_bytes=1, cap=512) == 1


def _gpu_with_room_for(model: torch.nn.Module, rows: int) -> list[int]:
    """Test double of a GPU's memory (none exists here): generate() of more than ``rows`` rows raises
    the out-of-memory error CUDA raises. Returns the batch sizes generate() was asked for."""
    asked: list[int] = []
    generate = model.generate

    def limited(*args, **kwargs):
        batch = kwargs["input_ids"].shape[0]
        asked.append(batch)
        if batch > rows:
            raise torch.OutOfMemoryError(f"CUDA out of memory (test double: room for {rows} rows)")
        return generate(*args, **kwargs)

    model.generate = limited
    return asked


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts = ["5.0 5.0 5.0\n90 90 90\nNa\n0.00 0.00 0.00\nCl\n0.50 0.50 0.50\n"] * 20
    tokenizer = tokenizer_family("project", texts, tmp_path_factory.mktemp("tok"))
    return tokenizer


def test_an_out_of_memory_batch_is_halved_and_no_sample_is_lost(tiny, caplog):
    model = random_llama(tiny)
    asked = _gpu_with_room_for(model, rows=3)
    settings = SampleSettings(batch_size=8, max_attempts=1, constraint="format", max_sites=2)
    with caplog.at_level(logging.WARNING):
        rows = list(sample(model, tiny, unconditional_requests(10), settings))
    assert sorted(r["id"] for r in rows) == sorted(f"u-{i}" for i in range(10))
    assert all(r["status"] == "ok" for r in rows)
    assert asked[:3] == [8, 4, 2]  # 8 and 4 ran out; the shard continues at 2 rows per batch
    assert max(asked[3:]) == 2  # and stays there: the error is paid once
    assert "continuing at 2 rows per batch" in caplog.text


def test_a_single_row_that_does_not_fit_is_a_clear_stop(tiny):
    model = random_llama(tiny)
    _gpu_with_room_for(model, rows=0)
    settings = SampleSettings(batch_size=2, max_attempts=1, constraint="format", max_sites=2)
    with pytest.raises(UnavailableError, match="one row does not fit in GPU memory"):
        list(sample(model, tiny, unconditional_requests(2), settings))


def test_batch_fit_only_shrinks():
    fit = BatchFit(64)
    fit.shrink(64)
    assert fit.size == 32 and fit.shrunk == 1
    with pytest.raises(UnavailableError):
        fit.shrink(1)
