"""Snakemake script of rule evaluate: every metric of the samples, as one JSON."""

import logging
from pathlib import Path

from xtalgen.evaluate.stage import evaluate_files
from xtalgen.io import log_to_file

# Worker processes are spawned and import this file again: only the main process runs the job.
if __name__ == "__main__":
    log_to_file(snakemake.log[0])
    metrics = evaluate_files(
        Path(snakemake.input.samples),
        Path(snakemake.input.train),
        Path(snakemake.input.test),
        Path(snakemake.output.metrics),
        prescreen=Path(snakemake.input.prescreen),
        dft=Path(snakemake.input.dft) if snakemake.input.get("dft") else None,
        reference=Path(snakemake.input.reference),
        workers=snakemake.threads,
        keep_flagged=snakemake.params.keep_flagged,
    )
    logging.info("%s", metrics)
