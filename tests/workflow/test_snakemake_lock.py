"""Two Snakemake runs on one results folder: the second is refused by Snakemake's own lock."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_runs(tmp_path, workflow_in):
    # The first run's pretraining is made long enough to still be running when the second starts.
    workflow = workflow_in(tmp_path, {"model": {"tiny": {"steps": 100000}}})
    cmd, env = workflow.command("results/model/tiny/model")
    running = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        locks = tmp_path / ".snakemake" / "locks"
        deadline = time.time() + 300
        while time.time() < deadline and running.poll() is None and not any(locks.glob("*")):
            time.sleep(0.2)
        assert running.poll() is None, "the first run ended before the second could start"
        assert any(locks.glob("*")), "the first run never took its lock"
        second = workflow.run("results/model/tiny/model", check=False)  # what the first is making
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stdout + second.stderr
    finally:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait()
