"""Wall time and peak memory of the main job per stage, and the DAG build time with 1,000 shards.

Run: python benchmarks/e2e.py [--skip-run | --skip-dag] [--shards 1000] [--repeats 3]; set
XTALGEN_CACHE to an empty folder to time a first run (no cached reference fingerprints). The main
job runs with profiles/local on the embedded config in a fresh temporary folder; per-stage figures
come from the Snakemake benchmark files every rule writes (results/benchmarks/<stage>/). The DAG
build is timed with `snakemake -n` and sample.shards (and prescreen.shards) set to --shards; the
median is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
CONFIG = str(REPO / "config.yaml")


def _snakemake(workdir: Path, *args: str) -> float:
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    start = time.perf_counter()
    # As with the virtual environment active: shell rules find `xtalgen` on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds


def run_main_job(keep: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="xtalgen-e2e-") as tmp:
        workdir = Path(tmp) if keep is None else keep
        if keep is not None and keep.exists() and any(keep.iterdir()):
            raise SystemExit(f"--workdir {keep} is not empty: a first run needs an empty folder")
        workdir.mkdir(parents=True, exist_ok=True)
        seconds = _snakemake(workdir, "--profile", str(REPO / "profiles" / "local"), "--configfile", CONFIG)
        rows = []
        for tsv in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
            row = pd.read_csv(tsv, sep="\t").iloc[0]
            rows.append({"stage": tsv.parent.name, "job": tsv.stem, "s": row["s"], "max_rss": row["max_rss"]})
        table = pd.DataFrame(rows)
        stages = table.groupby("stage").agg(
            jobs=("job", "size"), job_seconds=("s", "sum"), peak_rss_mb=("max_rss", "max")
        )
        cache = os.environ.get("XTALGEN_CACHE", "~/.cache/xtalgen")
        print(
            f"main job: {seconds / 60:.1f} min wall on {os.cpu_count()} cores (goal: under 15 min; "
            f"fingerprint cache {cache})"
        )
        print(stages.round(1).to_string())
        print(f"peak RSS of any job: {table['max_rss'].max():.0f} MB")
        jobs = table.assign(job=table["stage"] + "/" + table["job"]).sort_values("s", ascending=False)
        print("jobs over 5 s: " + ", ".join(f"{r.job} {r.s:.0f}" for r in jobs.itertuples() if r.s > 5))
        _science(workdir / "results")
        report = workdir / "report.html"
        start = time.perf_counter()
        _snakemake(
            workdir,
            "--profile",
            str(REPO / "profiles" / "local"),
            "--configfile",
            CONFIG,
            "--report",
            str(report),
        )
        print(f"report.html: {report.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.0f} s")


def _science(results: Path) -> None:
    """What the run learned: first-draw validity, elements, LoRA's validation loss, conditions met."""
    import json  # noqa: PLC0415

    metrics = json.loads((results / "evaluate" / "metrics.json").read_text())
    tasks = metrics["by_task"]
    first = tasks["unconditional"]
    print(
        f"unconditional, {first['n_samples']} samples, first draws: structural validity "
        f"{first['structural_validity_first_draw']:.3f}, compositional "
        f"{first['compositional_validity_first_draw']:.3f}; median elements {first['median_elements']}"
    )
    if "conditional" in tasks:
        cond = tasks["conditional"]
        n = cond["formula_samples"]
        print(
            f"conditional: formula met in {round(cond['formula_accuracy'] * n)} of {n} samples; the "
            f"formula's elements with any counts in {round(cond.get('elements_accuracy', 0.0) * n)} of {n}"
        )
    log = pd.read_csv(results / "finetune" / "training_log.csv").dropna(subset=["val_loss"])
    print(
        f"LoRA validation loss: {log['val_loss'].iloc[0]:.4f} at step {int(log['step'].iloc[0])} -> "
        f"{log['val_loss'].iloc[-1]:.4f} at step {int(log['step'].iloc[-1])}"
    )


def time_dag(shards: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory(prefix="xtalgen-dag-") as tmp:
        workdir = Path(tmp)
        config = workdir / "shards.yaml"
        config.write_text(yaml.safe_dump({"sample": {"shards": shards}, "prescreen": {"shards": shards}}))
        times = [
            _snakemake(
                workdir, "-n", "--quiet", "all", "--configfile", str(REPO / "config.yaml"), str(config)
            )
            for _ in range(repeats)
        ]
    print(
        f"DAG with {shards} sample and {shards} prescreen shards: median {statistics.median(times):.1f} s "
        f"over {repeats} dry runs ({', '.join(f'{t:.1f}' for t in times)}; goal: under 5 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-run", action="store_true", help="only time the DAG build")
    parser.add_argument("--skip-dag", action="store_true", help="only run the main job")
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="run the main job in this empty folder and keep it (default: a temporary one)",
    )
    args = parser.parse_args()
    if not args.skip_dag:
        time_dag(args.shards, args.repeats)
    if not args.skip_run:
        run_main_job(args.workdir)


if __name__ == "__main__":
    main()
