"""Finished sampling batches on disk, so that a preempted or killed shard resumes from the next one.

Each batch draws from its own seed (the shard's seed and the batch's requests), so a batch sampled
after a resume is the batch an uninterrupted run would have sampled. The journal is keyed on the
settings and the model's files: after a change, nothing old is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from xtalgen.errors import XtalgenError
from xtalgen.journal import LineJournal, read_journal

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from xtalgen.lm.request import SampleRequest
    from xtalgen.lm.settings import SampleSettings

__all__ = ["BatchJournal", "SamplingPreemptedError", "batch_key", "batch_seed", "model_identity"]

log = logging.getLogger(__name__)


class SamplingPreemptedError(XtalgenError, RuntimeError):
    """Sampling stopped on a signal after its batch in flight; a rerun resumes after it."""


def batch_key(attempt: int, requests: list[SampleRequest]) -> str:
    """A batch by its attempt and its requests (id, prompt and held elements), not by its position."""
    content = [attempt, [[r.id, r.prompt, list(r.choices or ())] for r in requests]]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]


def batch_seed(seed: int, key: str) -> int:
    """The torch seed of one batch: the same batch draws the same samples, resumed or not."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:15], 16)


def model_identity(*folders: Path | None) -> list[list[Any]]:
    """The model's files by name, size and modification time: a retrained adapter is a new model.

    Sizes and times, not hashes: a 7B base is 13 GB, read once per shard start otherwise.
    """
    files = []
    for folder in folders:
        if folder is None or not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            files.append([str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns])
    return files


class BatchJournal:
    """Batches already sampled under ``identity``, and a journal to which new ones are appended.

    SIGTERM (Slurm's preemption and time limit) is taken over while the journal is open: the batch
    in flight is finished and journaled, then sampling stops with ``SamplingPreemptedError``.
    """

    def __init__(self, path: Path, settings: SampleSettings, model: list[list[Any]]) -> None:
        self.path = path
        self.identity = hashlib.sha256(
            json.dumps([asdict(settings), model], sort_keys=True, default=str).encode()
        ).hexdigest()[:24]
        self.done = {
            r["batch"]: r["rows"]
            for r in read_journal(path)
            if r.get("identity") == self.identity and "batch" in r and isinstance(r.get("rows"), list)
        }
        self.reused = 0
        self.received: int | None = None
        self._journal: LineJournal | None = None
        self._previous: Any = None

    def __enter__(self) -> BatchJournal:
        self._journal = LineJournal(self.path, redone="that batch is sampled again")
        if self.done:
            log.warning("%s: %d finished batches are reused (a rerun)", self.path, len(self.done))
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: the signal stays with its owner
            self._previous = None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        if self._journal is not None:
            self._journal.close()

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum
        log.warning("%s received: finishing the batch in flight, then stopping", signal.Signals(signum).name)

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The rows of a batch sampled before, or None."""
        rows = self.done.get(key)
        self.reused += rows is not None
        return rows

    def put(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Journal a finished batch; after a signal, stop here."""
        assert self._journal is not None, "BatchJournal is used as a context manager"
        self._journal.write({"identity": self.identity, "batch": key, "rows": rows})
        self.done[key] = rows
        if self.received is not None:
            raise SamplingPreemptedError(
                f"sampling stopped by {signal.Signals(self.received).name}; every finished batch is "
                f"kept in {self.path}: rerun the same command to resume after them"
            )
