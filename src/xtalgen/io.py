"""Files and processes that fail cleanly.

Atomic outputs with the user's umask, output paths checked before the work, one run per output,
errors that name an unreadable input, and workers that end with their parent.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xtalgen.disk_full import raise_if_disk_full, report_disk_full_of_uncaught
from xtalgen.errors import InputError, XtalgenError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

__all__ = [
    "RECORD_TEXT",
    "OutputLockedError",
    "Progress",
    "UnreadableFileError",
    "atomic_folder",
    "atomic_output",
    "check_output",
    "die_with_parent",
    "folder_name",
    "inside",
    "job_cores",
    "log_to_file",
    "output_lock",
    "read_csv",
]


class UnreadableFileError(XtalgenError, ValueError):
    """An input file that exists but cannot be read as what it should be."""


class OutputLockedError(XtalgenError, RuntimeError):
    """Another run is writing the same output."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        if tmp.exists():  # mkstemp makes 0600; an output is created as any other tool's, by umask
            tmp.chmod((0o777 if tmp.is_dir() else 0o666) & ~_umask())
        tmp.replace(path)
    except Exception as err:  # pandas and the weight writers may wrap the OS's error in their own
        raise_if_disk_full(err, path)
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``path`` that replaces ``path`` only if the block succeeds.

    A model or adapter written in place and cut by a full disk or a crash would look finished to
    the next run; written aside, it is either whole or absent.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())
        if path.exists():
            old = path.parent / f".{path.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            path.replace(old)
            tmp.replace(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(path)
    except Exception as err:
        raise_if_disk_full(err, path)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def log_to_file(path: str | Path) -> None:
    """Send logging and stderr (warnings, tracebacks, progress) of a batch job to its log file."""
    logging.basicConfig(filename=path, level=logging.INFO, force=True)
    sys.stderr = Path(path).open("a")  # noqa: SIM115 - lives as long as the process
    report_disk_full_of_uncaught()


def job_cores() -> int:
    """The cores this job was given (its CPU affinity, as Slurm and Snakemake set it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_output(path: Path, *, folder: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    That is a folder where a file goes (or the reverse), a parent that is a file, or a parent
    without write permission.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        want, found = ("a folder", "a file") if folder else ("a file", "a folder")
        raise InputError(f"{path} is {found}; the output must be {want}: give another path")
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise InputError(f"{path}: {ancestor} is a file, so the output cannot be written under it")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise InputError(f"{path}: no permission to write in {ancestor}")
            break
    return path


@contextlib.contextmanager
def output_lock(path: Path) -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``path`` for the block; a second run on the output is refused.

    filelock's lock is an flock, so it is released however the holder ends, even killed. The
    holder's pid goes into a file of its own: filelock truncates the lock file on every attempt.
    """
    from filelock import FileLock, Timeout  # noqa: PLC0415

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.parent / f".{path.name}.lock"
    holder = path.parent / f".{path.name}.lock.pid"
    lock = FileLock(lock_path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        pid = holder.read_text().strip() if holder.is_file() else "unknown"
        raise OutputLockedError(
            f"{path}: another run (pid {pid or 'unknown'}) is writing this output; wait for it to end, "
            "or give another output path"
        ) from None
    try:
        holder.write_text(f"{os.getpid()}\n")
        yield lock_path
    finally:
        holder.unlink(missing_ok=True)  # still held: no other run can be between acquire and here
        lock.release()  # the lock file stays: removing it would let two runs lock two different files


def read_csv(path: Path, what: str = "a CSV table", **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures name the file and what it should have been."""
    import pandas as pd  # noqa: PLC0415

    path = Path(path)
    if path.is_dir():
        raise UnreadableFileError(f"{path} is a folder; expected {what} (.csv or .csv.gz)")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; expected {what} (.csv or .csv.gz)")
    try:
        return pd.read_csv(path, **kwargs)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise UnreadableFileError(
            f"{path}: truncated or corrupt gzip ({err}); expected {what}: download or copy it again"
        ) from None
    except UnicodeDecodeError as err:
        raise UnreadableFileError(
            f"{path}: not UTF-8 text (byte {err.start}); expected {what}, saved as UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise UnreadableFileError(f"{path} is empty; expected {what} with a header line") from None
    except pd.errors.ParserError as err:
        first = str(err).strip().splitlines()[0]
        raise UnreadableFileError(f"{path}: not a readable CSV ({first}); expected {what}") from None


def die_with_parent() -> None:
    """Worker initializer: the kernel ends this process when its parent ends, however it ends.

    Linux's PR_SET_PDEATHSIG; a worker whose parent is already gone exits at once.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes  # noqa: PLC0415

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent or parent == 1:  # the parent died before the call took effect
        os._exit(1)


_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # terminal cursor moves mean nothing in a log


class _LogLines:
    """A file for tqdm that gives each report a line of its own, stamped with the time.

    tqdm redraws one terminal line with carriage returns; in a log file that reads as one endless
    line, so each redraw becomes a line here.
    """

    def write(self, text: str) -> int:
        for part in _ESCAPES.sub("", text).replace("\n", "\r").split("\r"):
            if part.strip():
                print(f"[{time.strftime('%H:%M:%S')}] {part.rstrip()}", file=sys.stderr, flush=True)
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


class Progress:
    """tqdm's progress, as a line in the log at the first step, then at least every ``every`` s.

    Long jobs (pretraining, fine-tuning, sampling, relaxation) write to the log Snakemake names, so a
    user tailing it sees the job move; stderr is that log in every rule.
    """

    def __init__(self, what: str, total: int | None, every: float = 60.0) -> None:
        from tqdm import tqdm  # noqa: PLC0415

        self.bar = tqdm(
            total=total or None,
            desc=what,
            file=_LogLines(),
            mininterval=every,
            miniters=1,
            delay=1e-9,  # no line before the first step
            ascii=True,
            position=0,  # one line each: no cursor moves between bars in a log
            leave=False,  # the last report is already in the log; closing adds none
            bar_format="{desc}: {n_fmt} of {total_fmt} after {elapsed}, {remaining} left{postfix}"
            if total
            else "{desc}: {n_fmt} after {elapsed}{postfix}",
        )
        self.spoken = False

    def update(self, done: int, detail: str = "", *, force: bool = False) -> None:
        """Report ``done`` of ``total`` if a line is due (or ``force``, or at the first step)."""
        bar = self.bar
        bar.set_postfix_str(detail, refresh=False)
        before = bar.last_print_t
        bar.update(done - bar.n)
        printed = bar.last_print_t != before
        if not printed and (force or not self.spoken):
            bar.refresh()
        self.spoken = True


# A candidate record's columns are names and hashes, read as text: pandas would read a hash of
# sixteen decimal digits, or an id such as 007, as a number and drop its leading zeros.
RECORD_TEXT = {"id": str, "candidate_id": str, "source_id": str, "structure_sha": str, "task": str}

# Characters a folder name keeps from an id; any other run of characters becomes one "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_name(name: str, content: str) -> str:
    """A folder name for an id that always stays inside its parent, whatever the id holds.

    An id is a name, never a path: ``../x``, ``/abs/x``, ``a/b`` and an empty id all become a plain
    name (a slug of at most 60 characters), followed by a hash of the id and of ``content`` (the
    structure's hash), so that ids which slug alike (``a/b``, ``a_b``) or one id whose structure
    changed never share a folder.
    """
    slug = _UNSAFE.sub("_", name).strip("._-")[:60] or "id"
    digest = hashlib.sha256(f"{name}\0{content}".encode()).hexdigest()[:12]
    return f"{slug}-{digest}"


def inside(parent: Path, name: str) -> Path:
    """``parent / name``, refused unless ``name`` is one plain component (a manifest may be edited)."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(f"{name!r} is not a plain folder name under {parent}; rerun `xtalgen dft prepare`")
    return parent / name
