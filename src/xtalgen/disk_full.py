"""A full disk (or an exhausted quota) as one line that names the path, not a traceback.

Scratch file systems fill up every week on a shared cluster. The message says where the write
failed and what to do; the writers (``xtalgen.io``) leave nothing half-written behind, so a rerun
after space is freed resumes with what was finished.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path

from xtalgen.errors import XtalgenError

__all__ = [
    "DiskFullError",
    "disk_full_line",
    "is_disk_full",
    "no_room_left",
    "raise_if_disk_full",
    "report_disk_full_of_uncaught",
]

_CODES = {errno.ENOSPC, errno.EDQUOT}
# How the libraries that write weights say it: safetensors (Rust's StorageFull), torch's zip writer
# and tokenizers pass the OS's text on without an errno.
_TEXTS = ("No space left on device", "StorageFull", "Disk quota exceeded", "QuotaExceeded")


class DiskFullError(XtalgenError, OSError):
    """A write that failed because its file system is full or the user's quota is spent."""

    def __init__(self, where: Path | str, cause: BaseException) -> None:
        self.where = str(where)
        reason = "disk quota exceeded" if _is_quota(cause) else "no space left on device"
        super().__init__(
            f"{self.where}: {reason}; nothing was left half-written: free space on its file system "
            "(or write elsewhere) and rerun, which resumes with what was finished"
        )


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while err is not None and err not in seen:
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


def _is_quota(err: BaseException) -> bool:
    return any(getattr(e, "errno", None) == errno.EDQUOT or "quota" in str(e).lower() for e in _chain(err))


# Below this, a failed write is put down to the full disk: torch's zip writer reports one as "file
# write failed" or "unexpected pos", without the OS's errno or text.
_NO_ROOM = 1 << 20


def no_room_left(path: Path | str) -> bool:
    """Whether the file system that holds ``path`` (or its nearest existing parent) is full."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < _NO_ROOM


def is_disk_full(err: BaseException, where: Path | str | None = None) -> bool:
    """Whether ``err`` (or an error it was raised from) is a full disk or quota.

    With ``where``, also a failed write whose library hid the cause, when the file system that
    holds ``where`` has no room left.
    """
    if where is not None and no_room_left(where):
        return True
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno in _CODES:
            return True
        if any(text in str(e) for text in _TEXTS):
            return True
    return False


def raise_if_disk_full(err: BaseException, where: Path | str) -> None:
    """Re-raise a full disk met while writing ``where`` as a ``DiskFullError`` that names it."""
    if isinstance(err, DiskFullError) or not is_disk_full(err, where):
        return
    raise DiskFullError(_named_path(err) or where, err) from err


def _named_path(err: BaseException) -> str | None:
    for e in _chain(err):
        if isinstance(e, DiskFullError):
            return e.where
        name = getattr(e, "filename", None)
        if isinstance(e, OSError) and e.errno in _CODES and name:
            return str(name)
    return None


def disk_full_line(err: BaseException, fallback: Path | str | None = None) -> str:
    """The one line a command or job prints for a full disk."""
    for e in _chain(err):
        if isinstance(e, DiskFullError):
            return str(e)
    where = _named_path(err) or fallback or Path.cwd()
    return str(DiskFullError(where, err))


def report_disk_full_of_uncaught() -> None:
    """Make an uncaught full-disk error of this process one line on stderr, exit status 1.

    A batch job's stderr is its log, which is on the full disk too: the line goes to the terminal's
    stderr (which Snakemake and Slurm keep) as well. Every other error keeps its traceback.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], err: BaseException, trace: object) -> None:
        if not is_disk_full(err, Path.cwd()):
            previous(kind, err, trace)  # type: ignore[arg-type]
            return
        line = f"error: {disk_full_line(err)}"
        for stream in {id(s): s for s in (sys.stderr, sys.__stderr__) if s is not None}.values():
            with contextlib.suppress(OSError):  # the log itself is on the full disk
                print(line, file=stream, flush=True)

    sys.excepthook = hook
