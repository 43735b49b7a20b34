"""Training under the faults a cluster deals out: a checkpoint cut mid-write, and preemption (SIGTERM)."""

from __future__ import annotations

import json
import logging
import random
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.dataset.sources import find_split_file
from xtalgen.lm.base import ModelSpec
from xtalgen.lm.lora import LoraSettings, finetune
from xtalgen.lm.records import read_records
from xtalgen.lm.tiny import TinyModelSettings, pretrain_tiny
from xtalgen.lm.tokenizer import train_tokenizer
from xtalgen.lm.training import TrainSettings

SHAPE = TinyModelSettings(hidden_size=32, layers=1, heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory, pilot_dir):
    out = tmp_path_factory.mktemp("data")
    prepare_split(find_split_file(pilot_dir, "train"), "train", out / "train", PrepareSettings(max_rows=120))
    return out / "train" / "prompts.jsonl"


@pytest.fixture(scope="module")
def base(tmp_path_factory, prompts):
    out = tmp_path_factory.mktemp("tiny")
    records = read_records(prompts)
    train_tokenizer([r["prompt"] + r["completion"] for r in records], out / "tokenizer", 400)
    quick = TrainSettings(max_steps=2, batch_size=8, eval_steps=100, save_steps=100, logging_steps=1)
    pretrain_tiny(out / "tokenizer", records, None, out, model_settings=SHAPE, train_settings=quick)
    return out


def _cut(path, seed: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: random.Random(seed).randrange(1, len(data))])


@pytest.mark.parametrize("victim", ["adapter_model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_a_checkpoint_cut_mid_write_is_set_aside_and_the_one_before_resumed(
    victim, base, prompts, tmp_path, caplog
):
    records = read_records(prompts)
    settings = TrainSettings(max_steps=6, batch_size=8, eval_steps=100, save_steps=3, logging_steps=1)
    args = (ModelSpec(str(base / "model")), records, None, tmp_path)
    finetune(*args, lora=LoraSettings(), settings=settings)
    checkpoints = tmp_path / "checkpoints"
    _cut(checkpoints / "checkpoint-6" / victim, seed=len(victim))  # a crash while saving step 6
    caplog.set_level(logging.INFO)
    finetune(*args, lora=LoraSettings(), settings=settings)
    assert f"checkpoint-6 cannot be resumed ({victim}" in caplog.text
    assert "resuming from" in caplog.text and caplog.text.count("checkpoint-3") >= 1
    assert (checkpoints / "set-aside" / "checkpoint-6" / victim).is_file()  # kept for a look
    state = json.loads((checkpoints / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6  # steps 4 to 6 done again, from the whole checkpoint 3


def test_every_checkpoint_cut_starts_over_and_says_so(base, prompts, tmp_path, caplog):
    records = read_records(prompts)
    settings = TrainSettings(max_steps=2, batch_size=8, eval_steps=100, save_steps=2, logging_steps=1)
    args = (ModelSpec(str(base / "model")), records, None, tmp_path)
    finetune(*args, lora=LoraSettings(), settings=settings)
    _cut(tmp_path / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors", seed=0)
    caplog.set_level(logging.INFO)
    finetune(*args, lora=LoraSettings(), settings=settings)
    assert "no checkpoint can be resumed; training starts over" in caplog.text


def test_sigterm_saves_a_checkpoint_and_the_rerun_resumes_from_it(base, prompts, tmp_path):
    """Slurm's preemption: SIGTERM, then SIGKILL after a grace period. The step in flight is the loss."""
    out = tmp_path / "pretrain"
    cmd = [
        sys.executable, "-m", "xtalgen.cli", "tiny", "pretrain", "--tokenizer", str(base / "tokenizer"),
        "--records", str(prompts), "--out", str(out), "--hidden-size", "32", "--layers", "1",
        "--heads", "2", "--intermediate-size", "64", "--max-steps", "1000", "--save-steps", "100000",
        "--eval-steps", "100000", "--batch-size", "4",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "training_log.csv"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not log.is_file():
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0  # not done: Snakemake's retry or Slurm's requeue runs it again
    assert "SIGTERM" in stderr and "rerun" in stderr, stderr[-2000:]
    saved = sorted((out / "checkpoints").glob("checkpoint-*"))
    assert len(saved) == 1, "no checkpoint was saved on SIGTERM"
    step = int(saved[0].name.split("-")[1])
    assert 1 <= step < 1000
    assert not (out / "model").exists()
    # The same command again (as a retry runs it) starts from the saved step, not from zero.
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"resuming from {saved[0]}" in done.stderr, done.stderr[:3000]
    assert (out / "model").is_dir()


@pytest.mark.parametrize("crash_after", [3, 6], ids=["mid-run", "after-the-last-step"])
def test_training_resumed_from_a_checkpoint_ends_with_the_uninterrupted_weights(
    crash_after, base, prompts, tmp_path, caplog
):
    """A crash between checkpoints costs time, never a different model: resuming restores the data
    order, the optimizer, the schedule and the random state, so the adapter is the same to the bit.
    A crash after the last step's checkpoint (before the adapter was moved into place) trains nothing
    more."""
    from safetensors.torch import load_file  # noqa: PLC0415

    records = read_records(prompts)
    settings = TrainSettings(max_steps=6, batch_size=8, eval_steps=100, save_steps=3, logging_steps=1)
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    for out in (whole, crashed):
        finetune(ModelSpec(str(base / "model")), records, None, out, lora=LoraSettings(), settings=settings)
    for later in (crashed / "checkpoints").glob("checkpoint-*"):
        if int(later.name.split("-")[1]) > crash_after:
            shutil.rmtree(later)
    shutil.rmtree(crashed / "adapter")
    caplog.set_level(logging.INFO)
    finetune(ModelSpec(str(base / "model")), records, None, crashed, lora=LoraSettings(), settings=settings)
    assert f"checkpoint-{crash_after}" in caplog.text
    log = pd.read_csv(crashed / "training_log.csv")
    assert log["step"].max() == 6
    expected = load_file(whole / "adapter" / "adapter_model.safetensors")
    resumed = load_file(crashed / "adapter" / "adapter_model.safetensors")
    assert expected.keys() == resumed.keys()
    changed = [name for name in expected if not torch.equal(expected[name], resumed[name])]
    assert not changed, f"{len(changed)} of {len(expected)} tensors differ after resuming, e.g. {changed[:3]}"
