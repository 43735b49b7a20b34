"""What an auditor needs to trust a run: its configuration, code version, packages and costs."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "PACKAGES",
    "benchmark_table",
    "export_candidates",
    "input_checksums",
    "manifest",
    "plot_validity",
    "sampling_throughput",
]

PACKAGES = (
    "xtalgen", "torch", "transformers", "peft", "accelerate", "tokenizers", "xgrammar", "pymatgen",
    "matgl", "ase", "matminer", "smact", "mp-api", "atomate2", "jobflow", "fireworks", "maggma",
    "snakemake", "snakemake-executor-plugin-slurm", "numpy", "pandas",
)  # fmt: skip


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return out.stdout.strip()


def manifest(config: dict[str, Any], repo: Path) -> dict[str, Any]:
    """The run's configuration, the workflow's git commit (and whether it had local edits), versions."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git(repo, "rev-parse", "HEAD"),
        "git_local_changes": bool(dirty) and not dirty.startswith("unknown"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "config": config,
    }


def input_checksums(paths: list[Path]) -> dict[str, str]:
    """SHA-256 of every input file (each file of a folder), so an auditor can tell data apart."""
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest = hashlib.sha256()
            with file.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
            out[str(file)] = digest.hexdigest()
    return out


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


def export_candidates(metastable: Path, out_dir: Path, top: int) -> int:
    """The ``top`` most stable candidates as one CIF each, named by id, for download from the report."""
    import re  # noqa: PLC0415

    table = pd.read_csv(metastable, keep_default_na=False).head(top)
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in table.to_dict("records"):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(row["id"]))
        (out_dir / f"{name}.cif").write_text(row["cif_relaxed"])
    return len(table)


def sampling_throughput(shards: list[Path], benchmarks: list[Path], path: Path) -> pd.DataFrame:
    """Samples (and parsed samples) per second of every sampling shard, from its benchmark file."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

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
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(table) + 1.6))
    ax.barh(table["shard"], table["attempts_per_s"], color="tab:gray", label="generated")
    ax.barh(table["shard"], table["parsed_per_s"], color="tab:blue", label="parsed")
    total = table["parsed"].sum() / table["seconds"].sum() if table["seconds"].sum() else 0.0
    ax.set_xlabel(f"samples per second per job (all shards: {total:.2f} parsed/s per job)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
    return table


def plot_validity(reasons: dict[str, int], n_valid: int, path: Path, what: str = "samples") -> None:
    """Bar chart of valid samples and of each reason for an invalid one; ``what`` names the samples."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labels = ["valid", *(r[:50] for r in reasons)]
    values = [n_valid, *reasons.values()]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color=["tab:red"] * len(reasons) + ["tab:green"])
    ax.set_xlabel(f"{what} (N = {n_valid + sum(reasons.values())})")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
