"""File writing that never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["atomic_output", "job_cores", "log_to_file"]


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def log_to_file(path: str | Path) -> None:
    """Send logging and stderr (warnings, tracebacks, progress) of a batch job to its log file."""
    logging.basicConfig(filename=path, level=logging.INFO, force=True)
    sys.stderr = Path(path).open("a")  # noqa: SIM115 - lives as long as the process


def job_cores() -> int:
    """The cores this job was given (its CPU affinity, as Slurm and Snakemake set it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
