"""Snakemake script of rule evaluate: every metric of the samples, per task, as one JSON."""

import logging
from pathlib import Path

from xtalgen.evaluate.settings import EvaluateSettings
from xtalgen.evaluate.stage import evaluate_files
from xtalgen.io import log_to_file
from xtalgen.prescreen.settings import SelectionSettings


def _path(name: str) -> Path | None:
    value = snakemake.input.get(name)
    return Path(value) if value else None


def _paths(name: str) -> list[Path]:
    value = snakemake.input.get(name)
    if not value:
        return []
    return [Path(value)] if isinstance(value, str) else [Path(p) for p in value]


# Worker processes are spawned and import this file again: only the main process runs the job.
if __name__ == "__main__":
    log_to_file(snakemake.log[0])
    selection = SelectionSettings.from_config(snakemake.params.selection)
    saved = snakemake.input.get("known_reference")
    metrics = evaluate_files(
        Path(snakemake.input.samples),
        _paths("known"),
        Path(snakemake.input.test),
        Path(snakemake.output.metrics),
        baseline=_path("baseline"),
        known_reference=[Path(p) for p in saved] if saved else None,
        prescreen=_path("prescreen"),
        dft=_path("dft"),
        reference=Path(snakemake.input.reference),
        ipt=_path("ipt"),
        workers=snakemake.threads,
        keep_flagged=selection.keep_flagged,
        ehull_max=selection.ehull_max,
        ehull_tolerance=EvaluateSettings.from_config(snakemake.params.evaluate).ehull_tolerance,
        seen=_paths("seen"),
        train=Path(snakemake.input.train),
        train_reference=_path("train_reference"),
        conditional_out=Path(snakemake.output.conditional),
    )
    logging.info("%s", metrics)
