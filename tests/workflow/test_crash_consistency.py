"""The whole tiny workflow killed (SIGKILL to its process group) at random moments ends as one run.

A node that dies takes Snakemake and every job with it, with no chance to clean up. After each kill
the user unlocks and reruns; the final metrics must equal an uninterrupted run's with the same
seeds, and no job that Snakemake had recorded as finished may run again. The moments are drawn
from ``XTALGEN_CRASH_SEED`` (random when unset); a failure prints the seed and the moments, so the
same crashes can be replayed.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

KILLS = 3


def _finished_outputs(workdir: Path) -> dict[str, int]:
    """Outputs Snakemake recorded as finished (metadata written, no incomplete marker), with mtimes."""
    state = workdir / ".snakemake"

    def decoded(folder: Path) -> set[str]:
        # Snakemake names each record by the url-safe base64 of the path, long ones cut into
        # folders whose names start with "@".
        names = set()
        for record in folder.rglob("*") if folder.is_dir() else []:
            if record.is_file() and record.name != "migration_underway":
                parts = record.relative_to(folder).parts
                names.add(base64.urlsafe_b64decode("".join(p.lstrip("@") for p in parts)).decode())
        return names

    finished = decoded(state / "metadata") - decoded(state / "incomplete")
    found = {}
    for name in finished:
        path = workdir / name
        if path.is_file():
            found[name] = path.stat().st_mtime_ns
        elif path.is_dir():  # a folder output: its newest file stands for it
            found[name] = max((p.stat().st_mtime_ns for p in path.rglob("*")), default=0)
    return found


def _kill_after(cmd: list[str], env: dict[str, str], delay: float) -> bool:
    """Run ``cmd`` in its own process group and SIGKILL the group after ``delay`` s; True if killed."""
    process = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for _ in range(100):  # every job of the group goes down with it, as on a dead node
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        return True
    return False


def test_a_workflow_killed_at_random_moments_ends_as_an_uninterrupted_one(tmp_path, workflow_in, tiny_run):
    """``tiny_run`` is the uninterrupted run: the same settings, seeds and profile in another folder
    (the metrics name their files relative to the run's folder)."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    wf = workflow_in(workdir, None, tiny_run.workflow.executor)
    started, duration, reference = time.monotonic(), tiny_run.seconds, tiny_run.metrics
    seed = int(os.environ.get("XTALGEN_CRASH_SEED", random.SystemRandom().randrange(10**6)))
    draw = random.Random(seed)
    moments = sorted(draw.uniform(0.05, 0.95) * duration for _ in range(KILLS))
    told = f"XTALGEN_CRASH_SEED={seed}: kills at {[round(m, 1) for m in moments]} s of a {duration:.0f} s run"
    cmd, env = wf.command()
    killed, cut, previous = 0, 0, 0.0
    finished: dict[str, int] = {}
    for moment in [*moments, None]:
        if moment is None:
            wf.run()  # the last rerun goes to the end
        else:
            # Each rerun spends its start-up (DAG, lock) again: the moment is counted past it.
            killed += _kill_after(cmd, env, moment - previous + 5.0)
            previous = moment
            incomplete = workdir / ".snakemake" / "incomplete"
            cut += sum(p.is_file() for p in incomplete.rglob("*")) if incomplete.is_dir() else 0
        now = _finished_outputs(workdir)
        for name, mtime in finished.items():
            assert name in now, f"{told}: {name} was finished before a kill and is not now"
            assert now[name] == mtime, f"{told}: {name} was finished before a kill and ran again"
        finished = now
        if moment is not None:
            wf.run("--unlock")  # what Snakemake asks for after a run that could not clean up
    assert killed >= 1, f"{told}: every run had ended before its moment"
    print(f"{told}; {killed} runs killed, {cut} jobs cut; {time.monotonic() - started:.0f} s in all")
    metrics = json.loads((workdir / "results" / "evaluate" / "metrics.json").read_text())
    assert metrics == reference, told
