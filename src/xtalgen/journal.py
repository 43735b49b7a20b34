"""Append-only JSON-lines journals of finished work, which a rerun reads to resume.

A record is appended whole or not at all: a last line cut by a crash is closed first, so the next
record starts a line of its own instead of joining the cut one (and being lost with it), and a record
that does not fit on the disk is cut back off at once. A cut or unreadable line is skipped on reading:
its work is simply done again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import TYPE_CHECKING, Any

from xtalgen.disk_full import raise_if_disk_full

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LineJournal", "read_journal"]

log = logging.getLogger(__name__)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every whole record of the journal at ``path``, in order; none when it does not exist."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: its work is done again
        if isinstance(record, dict):
            records.append(record)
    return records


class LineJournal:
    """Appends whole JSON lines only, each synced to disk before the next piece of work starts."""

    def __init__(self, path: Path, redone: str = "that work is done again") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            log.warning("%s: its last line was cut (a crash mid-write); %s", path, redone)
            self._append(b"\n")

    def _append(self, data: bytes) -> None:
        start = os.fstat(self.fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
            os.fsync(self.fd)
        except OSError as err:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, start)
            raise_if_disk_full(err, self.path)
            raise

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line."""
        self._append((json.dumps(record) + "\n").encode())

    def close(self) -> None:
        """Release the file; every record is already on disk."""
        os.close(self.fd)
