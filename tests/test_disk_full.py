"""A full disk, for real: a small tmpfs mounted by the test, filled to a few pages, then freed.

Each case runs the real command on the full disk and checks the one line it prints (path and cause,
no traceback), that every file it left is whole, and that the rerun after space is freed resumes
with what was finished. Mounting needs root (CI runs as root); elsewhere the cases skip, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from xtalgen.dataset.prepare import PrepareSettings, prepare_split
from xtalgen.dataset.sources import find_split_file
from xtalgen.lm.records import read_records
from xtalgen.lm.tiny import TinyModelSettings, pretrain_tiny
from xtalgen.lm.tokenizer import train_tokenizer
from xtalgen.lm.training import TrainSettings
from xtalgen.prescreen.stage import build_hull_file, dataset_tables
from xtalgen.testing import shared_data_dir

if TYPE_CHECKING:
    from collections.abc import Iterator

PAGE = 4096
MODEL = shared_data_dir() / "matgl_models" / "M3GNet-MP-2021.2.8-PES"
REFS = shared_data_dir() / "hull_reference" / "2023-02-07-mp-elemental-reference-entries.json.gz"


class Disk:
    """A mounted tmpfs whose free space a filler file sets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def free(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave: int) -> None:
        """Leave ``leave`` bytes (rounded up to whole pages) free."""
        self.filler.unlink(missing_ok=True)
        size = self.free() - -(-leave // PAGE) * PAGE
        with self.filler.open("wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, size)

    def empty(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path) -> Iterator[Disk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: run as root (as CI does) to test a full disk")
    root = tmp_path / "disk"
    root.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(root)]
    mounted = subprocess.run(mount, check=False, capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield Disk(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def xtalgen(*argv: object) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "xtalgen.cli", *map(str, argv)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def assert_one_line(run: subprocess.CompletedProcess[str], under: Path) -> str:
    """Non-zero, one error line naming a path under ``under`` and the cause, no traceback."""
    assert run.returncode != 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("xtalgen: error:")]
    assert len(lines) == 1, run.stderr
    assert "no space left on device" in lines[0]
    assert str(under) in lines[0]
    return lines[0]


def files(folder: Path) -> dict[str, object]:
    """Every file's content under ``folder``; a JSON summary without its timing."""
    found: dict[str, object] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found[str(path.relative_to(folder))] = (
            {k: v for k, v in json.loads(data).items() if k != "seconds"} if path.suffix == ".json" else data
        )
    return found


def test_the_data_stage_on_a_full_disk_leaves_only_whole_files_and_the_rerun_finishes(
    disk, tmp_path, pilot_dir
):
    args = ["data", "prepare", "--dataset", pilot_dir, "--splits", "train", "val", "--max-rows", "60"]
    assert xtalgen(*args, "--out", tmp_path / "reference").returncode == 0
    reference = files(tmp_path / "reference")
    out = disk.root / "data"
    size = sum(p.stat().st_size for p in (tmp_path / "reference").rglob("*") if p.is_file())
    disk.fill(leave=size // 2)
    assert_one_line(xtalgen(*args, "--out", out), under=out)
    left = files(out) if out.exists() else {}
    assert left.keys() < reference.keys()  # it stopped part way
    assert all(data == reference[name] for name, data in left.items())  # whole or absent, no temp
    disk.empty()
    assert xtalgen(*args, "--out", out).returncode == 0
    assert files(out) == reference


@pytest.fixture(scope="module")
def hull(tmp_path_factory, pilot_dir) -> Path:
    out = tmp_path_factory.mktemp("hull") / "hull.json.gz"
    build_hull_file(out, dataset=[pilot_dir], elemental_refs=REFS)
    return out


def test_a_prescreen_shard_on_a_full_disk_keeps_whole_records_and_the_rerun_relaxes_only_the_rest(
    disk, tmp_path, pilot_dir, hull
):
    table = pd.concat(dataset_tables([pilot_dir / "test.csv.gz"]), ignore_index=True)
    structures = tmp_path / "in.csv"
    table[table["e_above_hull"] == 0].sample(4, random_state=2)[["id", "cif"]].to_csv(structures, index=False)
    args = ["prescreen", "run", "--structures", structures, "--hull", hull, "--model", MODEL, "--workers", 1]
    reference = tmp_path / "reference.csv"
    assert xtalgen(*args, "--out", reference).returncode == 0
    lines = (tmp_path / "reference.csv.journal.jsonl").read_text().splitlines()
    out = disk.root / "shard.csv"
    journal = disk.root / "shard.csv.journal.jsonl"
    # A page for the lock's pid file, then room for about two and a half records.
    disk.fill(leave=PAGE + len(lines[0]) * 5 // 2)
    assert_one_line(xtalgen(*args, "--out", out), under=disk.root)
    assert not out.exists()
    first = journal.read_text()
    assert first.endswith("\n")  # the record that did not fit was cut back off
    done = [json.loads(line)["id"] for line in first.splitlines()]
    assert 1 <= len(done) < 4
    disk.empty()
    rerun = xtalgen(*args, "--out", out)
    assert rerun.returncode == 0, rerun.stderr
    after = journal.read_text()
    assert after.startswith(first)  # the finished relaxations are kept, not done again
    assert sorted(json.loads(line)["id"] for line in after.splitlines()) == sorted(
        json.loads(line)["id"] for line in lines
    )
    assert set(pd.read_csv(out)["id"]) == set(pd.read_csv(reference)["id"])


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, pilot_dir) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("base")
    prepare_split(find_split_file(pilot_dir, "train"), "train", out / "train", PrepareSettings(max_rows=80))
    prompts = out / "train" / "prompts.jsonl"
    records = read_records(prompts)
    train_tokenizer([r["prompt"] + r["completion"] for r in records], out / "tokenizer", 400)
    shape = TinyModelSettings(hidden_size=32, layers=1, heads=2, intermediate_size=64)
    quick = TrainSettings(max_steps=2, batch_size=8, eval_steps=100, save_steps=100)
    pretrain_tiny(out / "tokenizer", records, None, out, model_settings=shape, train_settings=quick)
    return out / "model", prompts


def test_fine_tuning_on_a_full_disk_leaves_no_adapter_and_the_rerun_resumes_from_the_whole_checkpoint(
    disk, tmp_path, tiny_base
):
    base, prompts = tiny_base
    args = ["lora", "train", "--base", base, "--records", prompts, "--max-steps", 6, "--save-steps", 3]
    args += ["--batch-size", 8, "--eval-steps", 100]
    assert xtalgen(*args, "--out", tmp_path / "reference").returncode == 0
    checkpoint = tmp_path / "reference" / "checkpoints" / "checkpoint-3"
    pages = sum(-(-p.stat().st_size // PAGE) for p in checkpoint.rglob("*") if p.is_file())
    out = disk.root / "lora"
    # Room for the first checkpoint and the training log, not for the second checkpoint.
    disk.fill(leave=(pages * 3 // 2 + 4) * PAGE)
    assert_one_line(xtalgen(*args, "--out", out), under=out)
    assert not (out / "adapter").exists()
    assert not list(out.glob(".adapter*"))  # nor a half-written one beside it
    assert (out / "checkpoints" / "checkpoint-3" / "trainer_state.json").is_file()
    assert not (out / "checkpoints" / "checkpoint-6").exists()  # cut by the full disk: set aside
    disk.empty()
    rerun = xtalgen(*args, "--out", out)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming from" in rerun.stderr and "checkpoint-3" in rerun.stderr
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_a_workflow_job_on_a_full_disk_ends_with_one_line_on_stderr_and_in_its_log(disk, tmp_path):
    """A rule's script logs through ``log_to_file``; its full disk is one line, exit status 1."""
    log = tmp_path / "job.log"
    script = (
        "from pathlib import Path\n"
        "from xtalgen.io import atomic_output, log_to_file\n"
        f"log_to_file({str(log)!r})\n"
        f"with atomic_output(Path({str(disk.root / 'out.bin')!r})) as tmp:\n"
        "    tmp.write_bytes(bytes(1 << 20))\n"
    )
    disk.fill(leave=PAGE)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "Traceback" not in log.read_text()
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and "no space left on device" in line and str(disk.root) in line
    assert line in log.read_text()
