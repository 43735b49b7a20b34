"""One training loop for pretraining the tiny base and for LoRA: transformers' Trainer, resumable.

Checkpoints go to ``<out>/checkpoints``; a rerun after a crash resumes from the newest one, with its
optimizer, scheduler and step count, instead of from step 0. The log (step, loss, lr, val loss) is
rewritten as CSV at every logging step, and drawn as a loss curve at the end.
"""

from __future__ import annotations

import logging
import shutil
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from transformers import Trainer, TrainerCallback, TrainerState, TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import get_last_checkpoint

from xtalgen.disk_full import is_disk_full, raise_if_disk_full
from xtalgen.io import Progress, atomic_output
from xtalgen.lm.checkpoints import PreemptedError, StopOnSignal, set_aside_broken_checkpoints
from xtalgen.lm.records import IGNORE
from xtalgen.lm.settings import TrainSettings

__all__ = ["TrainSettings", "fingerprint", "log_table", "train"]
log = logging.getLogger(__name__)


class _WeightedLossTrainer(Trainer):
    """Trainer whose loss follows per-token weights where a batch carries them (``weights``).

    It keeps transformers' ``num_items_in_batch`` contract: the loss of a micro-batch is its weighted
    sum over the total weight of the whole accumulated batch (``_get_num_items_in_batch`` counts
    weights, not tokens), and the Trainer then does not divide by ``grad_accum``. A mean per
    micro-batch would be ``grad_accum`` times too large.
    """

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> Any:
        counted = super()._get_num_items_in_batch(batch_samples, device)
        # None: the Trainer divides each micro-batch's loss by grad_accum itself.
        if counted is None or not batch_samples or "weights" not in batch_samples[0]:
            return counted
        total = sum(_token_weights(batch).sum() for batch in batch_samples)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            total = self.accelerator.gather(total.to(device)).sum()
        return total.to(device)

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if "weights" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        weights = _token_weights(inputs)
        inputs.pop("weights")
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs.logits[:, :-1].float()
        targets = labels[:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).clamp(min=0), reduction="none"
        )
        weighted = (losses * weights.reshape(-1)).sum()
        if num_items_in_batch is None:  # evaluation: this batch's weighted mean
            loss = weighted / weights.sum().clamp(min=1e-8)
        else:
            loss = weighted / torch.as_tensor(num_items_in_batch).clamp(min=1e-8)
            if self.args.average_tokens_across_devices:  # as Trainer.compute_loss does for a model's loss
                loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss


def _token_weights(batch: dict[str, Any]) -> torch.Tensor:
    """The weight of each predicted token (labels shifted by one), 0 where the label is ignored."""
    return batch["weights"][:, 1:] * (batch["labels"][:, 1:] != IGNORE)


def fingerprint(*parts: object) -> str:
    """A short hash of everything a checkpoint depends on."""
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


class _CsvLog(TrainerCallback):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            with atomic_output(self.path) as tmp:
                log_table(state.log_history).to_csv(tmp, index=False)


class _ProgressLog(TrainerCallback):
    """A progress line at least once a minute: the step, the latest loss, the time left."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.progress: Progress | None = None
        self.loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress = Progress(self.what, state.max_steps)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.loss = logs["loss"]

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None and state.is_world_process_zero:
            loss = f"loss {self.loss:.4f}" if self.loss is not None else ""
            self.progress.update(state.global_step, loss, force=state.global_step >= state.max_steps)


def log_table(history: list[dict[str, Any]]) -> pd.DataFrame:
    """Trainer log history as rows of step, loss, lr, val_loss (one row per step)."""
    rows: dict[int, dict[str, Any]] = {}
    for item in history:
        row = rows.setdefault(int(item["step"]), {"step": int(item["step"])})
        if "loss" in item:
            row["loss"] = item["loss"]
            row["lr"] = item.get("learning_rate")
        if "eval_loss" in item:
            row["val_loss"] = item["eval_loss"]
    table = pd.DataFrame(sorted(rows.values(), key=lambda r: r["step"]))
    return table.reindex(columns=["step", "loss", "lr", "val_loss"])


def _precision(settings: TrainSettings) -> dict[str, bool]:
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available() or settings.precision == "fp32":
        return {"bf16": False, "fp16": False}
    if settings.precision == "auto":
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16}
    return {"bf16": settings.precision == "bf16", "fp16": settings.precision == "fp16"}


def _steps_done(checkpoint: str) -> int:
    return TrainerState.load_from_json(str(Path(checkpoint) / TRAINER_STATE_NAME)).global_step


def _finish_from(trainer: Trainer, checkpoint: str) -> None:
    """The last step's checkpoint is the result, loaded as ``train()`` itself loads one.

    Resuming from it would train a step beyond ``max_steps`` (transformers' loop runs once more),
    and the model would differ from the one an uninterrupted run saved.
    """
    log.info("%s holds every step; its weights are the result", checkpoint)
    trainer._load_from_checkpoint(checkpoint)
    trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / TRAINER_STATE_NAME))


def train(
    model: torch.nn.Module,
    train_set: torch.utils.data.Dataset,
    val_set: torch.utils.data.Dataset | None,
    collator: Any,
    *,
    out_dir: Path,
    settings: TrainSettings,
    fingerprint: str = "",
    callbacks: list[TrainerCallback] | None = None,
) -> pd.DataFrame:
    """Train, resuming from ``out_dir/checkpoints`` when a previous run left one; returns the log.

    Checkpoints of a run with another ``fingerprint`` (other data, model or settings) are discarded
    rather than resumed.
    """
    checkpoints = out_dir / "checkpoints"
    stamp = checkpoints / "xtalgen_fingerprint.txt"
    if checkpoints.is_dir() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        log.info("discarding checkpoints of a different run in %s", checkpoints)
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    schedule, schedule_kwargs = settings.scheduler()
    args = TrainingArguments(
        output_dir=str(checkpoints),
        learning_rate=settings.learning_rate,
        lr_scheduler_type=schedule,
        lr_scheduler_kwargs=schedule_kwargs,
        warmup_steps=settings.warmup_steps,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        eval_strategy="steps" if val_set is not None else "no",
        eval_steps=settings.eval_steps,
        eval_on_start=settings.eval_on_start and val_set is not None,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        seed=settings.seed,
        data_seed=settings.seed,
        gradient_checkpointing=settings.gradient_checkpointing,
        remove_unused_columns=False,
        report_to="none",
        dataloader_num_workers=0,
        **_precision(settings),
    )
    stop = StopOnSignal()
    trainer = _WeightedLossTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=collator,
        callbacks=[
            stop,
            _CsvLog(out_dir / "training_log.csv"),
            _ProgressLog(f"training steps ({out_dir.name})"),
            *(callbacks or []),
        ],
    )
    set_aside = set_aside_broken_checkpoints(checkpoints)
    last = get_last_checkpoint(str(checkpoints))
    if last:
        log.warning("resuming from %s (a rerun: the steps it holds are not trained again)", last)
    elif set_aside:
        log.warning("no checkpoint can be resumed; training starts over")
    try:
        if last and _steps_done(last) >= settings.max_steps > 0:
            _finish_from(trainer, last)
        else:
            trainer.train(resume_from_checkpoint=last)
    except Exception as err:
        if is_disk_full(err, checkpoints):  # a checkpoint cut by the full disk must not be resumed from
            set_aside_broken_checkpoints(checkpoints)
            raise_if_disk_full(err, checkpoints)
        raise
    if stop.received is not None:
        raise PreemptedError(
            f"training stopped by {signal.Signals(stop.received).name} at step {trainer.state.global_step}; "
            f"its checkpoint is in {checkpoints}: rerun the same command to resume from it"
        )
    if val_set is not None:
        trainer.evaluate()
    table = log_table(trainer.state.log_history)
    with atomic_output(out_dir / "training_log.csv") as tmp:
        table.to_csv(tmp, index=False)
    return table
