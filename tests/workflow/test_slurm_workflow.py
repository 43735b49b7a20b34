"""The tiny end-to-end run through profiles/slurm on a real single-node Slurm with accounting."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

REPO = Path(__file__).resolve().parents[2]
SLURM = REPO / ".ci" / "slurm"


def _running() -> bool:
    return (
        shutil.which("scontrol") is not None
        and subprocess.run(["scontrol", "ping"], capture_output=True, check=False, timeout=10).returncode == 0
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    """A cluster already up is used as is; otherwise .ci/slurm/start.sh brings one up and tears it down."""
    if _running():
        yield
        return
    base = Path(os.environ.get("XTALGEN_SLURM_BASE", "/tmp/xtalgen-slurm"))
    env = {**os.environ, "BASE": str(base)}
    started = subprocess.run(
        ["bash", str(SLURM / "start.sh")], capture_output=True, text=True, env=env, check=False
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SLURM / "stop.sh")], env=env, capture_output=True, check=False)
        pytest.skip(f"Slurm cannot start on this machine: {(started.stderr or started.stdout)[-400:]}")
    try:
        yield
    finally:
        stopped = subprocess.run(
            ["bash", str(SLURM / "stop.sh")], env=env, capture_output=True, text=True, check=False
        )
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def test_tiny_run_executes_every_job_as_a_slurm_job(slurm_cluster, workflow):
    executor = (
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--jobs",
        "4",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "5",
        "--max-status-checks-per-second",
        "1",
        "--latency-wait",
        "5",
    )
    wf = workflow({"prescreen": {"max_structures": 2}}, executor)
    result = wf.run()
    log = result.stdout + result.stderr
    job_ids = sorted(set(re.findall(r"SLURM jobid (\d+)", log)), key=int)
    submitted_rules = set(re.findall(r"rule (\w+):", log)) - {"all"}
    assert len(job_ids) >= len(submitted_rules) >= 15, log[-3000:]
    accounting = (
        subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "JobID,JobName,State", "-j", ",".join(job_ids)],
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()
    )
    states = {line.split("|")[0]: line.split("|")[2] for line in accounting}
    assert set(states) == set(job_ids)
    assert set(states.values()) == {"COMPLETED"}, accounting
    assert (wf.workdir / "results" / "evaluate" / "metrics.json").is_file()
    assert (wf.workdir / "results" / "dft" / "manifest.csv").is_file()
