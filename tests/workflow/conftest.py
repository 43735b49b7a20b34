from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def snakemake_bin() -> str:
    found = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    if found is None:
        raise RuntimeError("snakemake is not installed in this environment")
    return found


class Workflow:
    """The repository's Snakefile run in a temporary working directory."""

    def __init__(self, workdir: Path, overrides: dict, executor: tuple[str, ...] = ("--cores", "2")) -> None:
        self.workdir = workdir
        self.executor = executor
        self.config = workdir / "test-config.yaml"
        self.config.write_text(yaml.safe_dump(overrides))

    def command(self, *args: str, env: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
        """The snakemake command line of this workflow, and its environment."""
        cmd = [
            snakemake_bin(),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(self.workdir),
            "--configfile",
            str(REPO / "config.yaml"),
            str(self.config),
            *self.executor,
            *args,
        ]
        # As after activating the virtual environment: batch jobs find `xtalgen` on PATH.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return cmd, {**os.environ, "XTALGEN_OFFLINE": "1", "PATH": path, **(env or {})}

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd, full_env = self.command(*args, env=env)
        result = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
        return result


def tiny_settings(pilot_dir: Path, overrides: dict | None = None) -> dict:
    """The workflow tests' tiny configuration, with each section's keys overridden one by one."""
    base = {
        "data": {"local_dir": str(pilot_dir), "max_rows": 60},
        "prescreen": {"max_structures": 3, "shards": 2, "validation_size": 10},
        "model": {
            "tiny": {
                "steps": 10,
                "hidden_size": 32,
                "intermediate_size": 64,
                "heads": 2,
                "layers": 1,
                "extra_data": [],  # the pipeline test turns the pretraining corpus on
            }
        },
        "finetune": {"max_steps": 4, "eval_steps": 2, "save_steps": 2, "val_records": 8},
        "sample": {
            "unconditional": 4,
            "conditional": {"per_row": 1, "max_rows": 2},
            "infill": {"per_row": 1, "max_rows": 2},
        },
    }
    overrides = overrides or {}
    merged = base | overrides
    for section, defaults in base.items():
        merged[section] = defaults | overrides.get(section, {})
    return merged


@pytest.fixture(scope="session")
def workflow_in(pilot_dir: Path):
    """A tiny workflow in a given folder, for fixtures wider than one test."""

    def make(
        workdir: Path, overrides: dict | None = None, executor: tuple[str, ...] = ("--cores", "2")
    ) -> Workflow:
        return Workflow(workdir, tiny_settings(pilot_dir, overrides), executor)

    return make


@pytest.fixture
def workflow(tmp_path: Path, workflow_in):
    def make(overrides: dict | None = None, executor: tuple[str, ...] = ("--cores", "2")) -> Workflow:
        return workflow_in(tmp_path, overrides, executor)

    return make


LOCAL_PROFILE = ("--profile", str(REPO / "profiles" / "local"), "--cores", "2")


@dataclass
class TinyRun:
    """One uninterrupted run of the whole workflow on the tiny settings, as a user runs it."""

    workflow: Workflow
    seconds: float
    metrics: dict  # evaluate/metrics.json as the run wrote it, before any test touches the folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, workflow_in) -> TinyRun:
    """Shared by the language-model checks and the crash-consistency test, which need the same run."""
    wf = workflow_in(tmp_path_factory.mktemp("tiny-run"), None, LOCAL_PROFILE)
    started = time.monotonic()
    wf.run()
    seconds = time.monotonic() - started
    metrics = json.loads((wf.workdir / "results" / "evaluate" / "metrics.json").read_text())
    return TinyRun(wf, seconds, metrics)
