"""Checkpoints that survive a crash mid-write, and training that stops cleanly when preempted.

transformers writes each checkpoint in place and resumes from the newest folder it finds, so a
checkpoint cut by a crash (a full disk, SIGKILL during the save) would fail every rerun with the same
error. Here each checkpoint is checked before resuming: its weights' safetensors header must match
the file's size, its optimizer and scheduler archives must be whole, and its trainer state must
parse. One that fails is set aside (kept, for a look) and the run resumes from the newest one that
passes, or starts over, saying which.

Slurm ends a preempted or timed-out job with SIGTERM and, after a grace period (KillWait, 30 s by
default), SIGKILL. ``StopOnSignal`` turns SIGTERM into a checkpoint at the end of the current step
and a stop, so the job's rerun (a Snakemake retry, a requeued job) loses at most that step.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import zipfile
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from xtalgen.errors import XtalgenError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PreemptedError", "StopOnSignal", "set_aside_broken_checkpoints"]

log = logging.getLogger(__name__)

SET_ASIDE = "set-aside"
_STEP = re.compile(r"^checkpoint-(\d+)$")


class PreemptedError(XtalgenError, RuntimeError):
    """Training stopped on a signal after saving a checkpoint; rerunning resumes from it."""


def _broken(folder: Path) -> str | None:
    """Why the checkpoint in ``folder`` cannot be resumed, or None when every file is whole."""
    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text())
    except (OSError, ValueError) as err:
        return f"{state.name}: {err}"
    weights = sorted(folder.glob("*.safetensors"))
    if not weights and not list(folder.glob("*.bin")):
        return "no weights file"
    for path in weights:
        why = _safetensors_cut(path)
        if why:
            return f"{path.name}: {why}"
    for name in ("optimizer.pt", "scheduler.pt"):
        path = folder / name
        if path.exists() and not _archive_whole(path):
            return f"{name}: not a whole torch archive (cut mid-write)"
    return None


def _safetensors_cut(path: Path) -> str | None:
    """How the file falls short of safetensors' layout, or None when it is whole.

    The layout: an 8-byte length, a JSON header naming each tensor's byte range, then the tensors;
    the header is read once, and no tensor.
    """
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return "no header (cut mid-write)"
        size = int.from_bytes(head, "little")
        try:
            header = json.loads(handle.read(size))
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        except (ValueError, AttributeError, KeyError, TypeError, IndexError):
            return "header unreadable (cut mid-write)"
    if path.stat().st_size != 8 + size + max(ends, default=0):
        return "shorter than its header says (cut mid-write)"
    return None


def _archive_whole(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def set_aside_broken_checkpoints(checkpoints: Path) -> list[Path]:
    """Move every checkpoint that cannot be resumed to ``checkpoints/set-aside``; returns them."""
    moved = []
    if not checkpoints.is_dir():
        return []
    folders = [p for p in checkpoints.iterdir() if p.is_dir() and _STEP.match(p.name)]
    for folder in sorted(folders, key=lambda p: int(_STEP.match(p.name)[1]), reverse=True):
        reason = _broken(folder)
        if reason is None:
            continue
        target = checkpoints / SET_ASIDE / folder.name
        target.parent.mkdir(exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
        moved.append(target)
        log.warning("%s cannot be resumed (%s); set aside in %s", folder, reason, target.parent)
    return moved


class StopOnSignal(TrainerCallback):
    """SIGTERM: save a checkpoint at the end of the current step and stop training."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM,)) -> None:
        self.signals = signals
        self.received: int | None = None
        self.previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum
        name = signal.Signals(signum).name
        log.warning("%s received: saving a checkpoint after this step, then stopping", name)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Take the signals over for the length of the run."""
        for signum in self.signals:
            try:
                self.previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave the signal to its owner
                continue

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """After a signal: save now, and stop."""
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Give the signals back to their previous handlers."""
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()
