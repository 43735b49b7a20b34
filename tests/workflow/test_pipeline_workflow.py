"""The whole main job, dataset to metrics and report, on tiny settings, run once per session.

Where a Slurm cluster runs on localhost, or .ci/slurm/start.sh can bring one up (root, as in CI), the
run goes through profiles/slurm and every job is a Slurm job; elsewhere it runs on local cores. The
same run serves the end-to-end checks and the cluster checks, so CI pays for one main job, not two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from xtalgen.testing import shared_data_dir

pytestmark = [pytest.mark.workflow, pytest.mark.slurm]

REPO = Path(__file__).resolve().parents[2]
SLURM = REPO / ".ci" / "slurm"
SLURM_EXECUTOR = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--jobs",
    "4",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "3",
    "--max-status-checks-per-second",
    "1",
    "--latency-wait",
    "5",
)


@dataclass
class MainJob:
    workflow: object  # conftest's Workflow
    log: str
    slurm: str | None  # why the run is local, or None when every job went through Slurm


def _slurm_running() -> bool:
    return (
        shutil.which("scontrol") is not None
        and subprocess.run(["scontrol", "ping"], capture_output=True, check=False, timeout=10).returncode == 0
    )


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[str | None]:
    """None when a cluster is up (already, or brought up here and torn down after); else why not."""
    if _slurm_running():
        yield None
        return
    env = {**os.environ, "BASE": os.environ.get("XTALGEN_SLURM_BASE", "/tmp/xtalgen-slurm")}
    started = subprocess.run(
        ["bash", str(SLURM / "start.sh")], capture_output=True, text=True, env=env, check=False
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SLURM / "stop.sh")], env=env, capture_output=True, check=False)
        yield f"Slurm cannot start on this machine: {(started.stderr or started.stdout)[-400:]}"
        return
    try:
        yield None
    finally:
        stopped = subprocess.run(
            ["bash", str(SLURM / "stop.sh")], capture_output=True, text=True, env=env, check=False
        )
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.fixture(scope="module")
def main_job(slurm_cluster: str | None, tmp_path_factory, workflow_in) -> MainJob:
    extra = str(shared_data_dir() / "mp_20" / "biternary" / "val.csv.gz")
    tiny = {"steps": 10, "hidden_size": 32, "intermediate_size": 64, "heads": 2, "layers": 1}
    overrides = {"prescreen": {"max_structures": 4}, "model": {"tiny": tiny | {"extra_data": [extra]}}}
    executor = ("--cores", "2") if slurm_cluster else SLURM_EXECUTOR
    wf = workflow_in(tmp_path_factory.mktemp("main-job"), overrides, executor)
    result = wf.run()
    return MainJob(wf, result.stdout + result.stderr, slurm_cluster)


def test_every_job_of_the_main_job_is_a_slurm_job(main_job: MainJob):
    if main_job.slurm is not None:
        pytest.skip(main_job.slurm)
    log = main_job.log
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


def test_main_job_runs_end_to_end_and_reports(main_job: MainJob):
    wf = main_job.workflow
    extra = str(shared_data_dir() / "mp_20" / "biternary" / "val.csv.gz")
    results = wf.workdir / "results"
    corpus = json.loads((results / "model" / "corpus" / "summary.json").read_text())
    assert corpus["extra"][extra]["held_out_dropped"] >= 1  # the run's val rows stay out of the corpus
    assert corpus["tasks"] == "generation"
    metrics = json.loads((results / "evaluate" / "metrics.json").read_text())
    assert metrics["n_samples"] == 4  # the top level is the unconditional samples (Table 1)
    by_task = metrics["by_task"]
    assert by_task["unconditional"]["n_samples"] == 4
    assert by_task["conditional"]["n_samples"] == 2
    # Every unconditional structure is rated (Table 1's rate); the cap of 4 takes the other tasks
    # in turn.
    handed = pd.read_csv(results / "sample" / "structures.csv")
    rated = pd.read_csv(results / "prescreen" / "results.csv")
    assert (rated["task"] == "unconditional").sum() == (handed["task"] == "unconditional").sum()
    others = rated[rated["task"] != "unconditional"]
    assert 1 <= len(others) <= 4 and "conditional" in set(others["task"])
    assert rated["structure_sha"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert metrics["m3gnet_metastable_rate_all"] is not None
    assert "formula_accuracy" in by_task["conditional"]
    assert "outcomes" not in by_task["conditional"]  # the per-sample rows have their own CSV
    outcomes = pd.read_csv(results / "evaluate" / "conditional.csv")
    assert len(outcomes) == 2 and outcomes["formula"].notna().all()
    assert outcomes["spacegroup"].dtype.kind == "i"  # written as 225, not 225.0
    assert outcomes["formula_met"].mean() == by_task["conditional"]["formula_accuracy"]
    assert outcomes["elements_met"].mean() == by_task["conditional"]["elements_accuracy"]
    assert (outcomes["elements_met"] | ~outcomes["formula_met"]).all()  # a formula met has its elements
    assert "data/train/structures.csv" in metrics["novelty_reference"]
    assert "data/val/structures.csv" in metrics["novelty_reference"]
    assert "model/corpus/structures.csv" in metrics["novelty_reference"]
    assert metrics["ipt"]["n_structures"] == 16 and metrics["ipt"]["ipt_mean"] >= 0
    summary = json.loads((results / "prescreen" / "summary.json").read_text())
    for task, rates in summary["by_task"].items():  # one definition: the prescreen says the same
        assert rates["m3gnet_metastable_rate"] == by_task[task]["m3gnet_metastable_rate"], task
    paper = pd.read_csv(results / "report" / "metrics_vs_paper.csv").set_index("metric")
    assert "protocol: hull" in paper.index and "dataset hull" in paper.loc["protocol: hull", "this run"]
    assert 0.0 <= metrics["structural_validity"] <= 1.0
    assert (results / "evaluate" / "reference" / "test.npz").is_file()
    manifest = json.loads((results / "report" / "manifest.json").read_text())
    checksums = manifest["input_checksums"]
    assert any(p.endswith("train.csv.gz") for p in checksums)
    assert any(p.endswith("model.pt") for p in checksums)
    assert all(len(v) == 64 for v in checksums.values())
    assert len(manifest["git_commit"]) == 40
    assert manifest["packages"]["torch"].startswith("2.13.0")
    assert manifest["config"]["sample"]["unconditional"] == 4
    costs = (results / "report" / "job_costs.csv").read_text()
    assert "prescreen/shard_1-of-2" in costs
    assert "model/pretrain_tiny" in costs
    assert (results / "report" / "validity.png").stat().st_size > 0
    metastable = (results / "prescreen" / "metastable.csv").read_text().count("_cell_length_a")
    assert len(list((results / "report" / "candidates").glob("*.cif"))) == min(metastable, 20)
    tables = results / "report" / "tables"
    for name in ("metrics", "candidates", "conditional", "dft", "costs", "manifest"):  # shown inline
        assert "<table>" in (tables / f"{name}.html").read_text(), name
    assert "LLaMA-2 70B, T=0.7" in (tables / "metrics.html").read_text()
    assert outcomes["formula"].iloc[0] in (tables / "conditional.html").read_text()
    report = wf.workdir / "report.html"
    wf.run("--report", str(report))
    html = report.read_text(errors="replace")
    for caption in (
        "accuracy gate",
        "LoRA fine-tuning",
        "Sampling summary",
        "Metrics of the",
        "Run manifest",
        "Sampling throughput of each sampling job",
        "beside every row of the paper",
        "The atomate2 flow prepared for each metastable candidate",
    ):
        assert caption.lower() in html.lower(), caption
    throughput = pd.read_csv(results / "report" / "sampling_throughput.csv")
    assert len(throughput) == 2 and (throughput["attempts_per_s"] > 0).all()
    assert (results / "dft" / "prepared" / "manifest.csv").is_file()

    # The report renders in a real browser: its app draws the menu, the workflow text and the
    # rule graph (Vega), which exist only after the page's JavaScript has run.
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("the render check needs Debian's chromium (apt-get install chromium)")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=15000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    app = re.sub(r"<script.*?</script>", "", dom.stdout[dom.stdout.find('<div id="app">') :], flags=re.S)
    shown = set(re.findall(r">([^<>]{3,80})<", app))
    assert {"Workflow", "Statistics", "Results"} <= shown
    assert any(text.startswith("xtalgen turns the crystal dataset") for text in shown)
    assert "headline numbers" in app and "Fine-tuning: LoRA" in app  # this run's numbers, filled in
    # with the decoding the samples were drawn with (the embedded config cools element lines)
    decoding = f"T 1.0, top_p 1.0, element lines at T {manifest['config']['sample']['element_temperature']}"
    assert f"Unconditional ({metrics['n_samples']} samples, {decoding})" in app
    assert "View Source" in shown  # the rule graph, drawn by Vega

    # Every figure of the report, screenshotted at the report's width: drawn, not blank, not clipped.
    figures = sorted(p for p in results.rglob("*.png") if "checkpoints" not in p.parts)
    assert len(figures) >= 6
    for figure in figures:
        page = wf.workdir / f"{figure.stem}.html"
        page.write_text(f'<img src="{figure.as_uri()}" style="max-width: 800px">')
        shot = wf.workdir / f"{figure.stem}-screenshot.png"
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=820,900", f"--screenshot={shot}", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and shot.is_file(), (figure, done.stderr[-500:])
        import matplotlib.image as mpimg  # noqa: PLC0415

        pixels = mpimg.imread(shot)
        assert pixels.std() > 0.01, f"{figure} renders blank"
        drawn = mpimg.imread(figure)
        assert drawn.shape[1] <= 1200 and drawn.shape[0] <= 1200, f"{figure} is {drawn.shape}"

    # README's audit pictures: the rule graph as SVG through graphviz.
    rulegraph = wf.run("--rulegraph").stdout
    svg = subprocess.run(["dot", "-Tsvg"], input=rulegraph, capture_output=True, text=True, check=True)
    assert "<svg" in svg.stdout and "dft_prepare" in svg.stdout
