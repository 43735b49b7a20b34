"""What the run cost: wall time, memory and CPU per job, and the sampling jobs' throughput."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["benchmark_table", "sampling_throughput"]


def benchmark_table(paths: list[Path], root: Path) -> pd.DataFrame:
    """One row per job from Snakemake's benchmark files: wall time, peak memory, CPU time."""
    rows = []
    for path in sorted(paths):
        table = pd.read_csv(path, sep="\t")
        last = table.iloc[-1]
        rows.append(
            {
                "job": str(path.relative_to(root).with_suffix("")),
                "seconds": round(float(last["s"]), 1),
                "max_rss_mb": round(float(last["max_rss"]), 1) if last["max_rss"] != "-" else None,
                "cpu_seconds": round(float(last["cpu_time"]), 1) if last["cpu_time"] != "-" else None,
            }
        )
    return pd.DataFrame(rows, columns=["job", "seconds", "max_rss_mb", "cpu_seconds"])


def sampling_throughput(shards: list[Path], benchmarks: list[Path]) -> pd.DataFrame:
    """Samples (and parsed samples) per second of every sampling shard, from its benchmark file."""
    rows = []
    for shard, bench in zip(shards, benchmarks, strict=True):
        attempts = pd.read_csv(shard, keep_default_na=False)
        seconds = float(pd.read_csv(bench, sep="\t").iloc[0]["s"])
        parsed = int((attempts["status"] == "ok").sum()) if "status" in attempts else len(attempts)
        rows.append(
            {
                "shard": shard.stem,
                "attempts": len(attempts),
                "parsed": parsed,
                "seconds": seconds,
                "attempts_per_s": len(attempts) / seconds if seconds else None,
                "parsed_per_s": parsed / seconds if seconds else None,
            }
        )
    return pd.DataFrame(rows)
