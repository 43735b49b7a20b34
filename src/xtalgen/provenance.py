"""What an auditor needs to trust a run: its configuration, code version, packages and input checksums."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PACKAGES", "input_checksums", "manifest"]

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
