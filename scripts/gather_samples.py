"""Snakemake script of rule gather_samples: all attempts, the parsed structures, and the rates."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.lm.stage import gather_samples

log_to_file(snakemake.log[0])
baseline = snakemake.input.get("baseline")
stats = gather_samples(
    [Path(p) for p in snakemake.input.shards],
    Path(snakemake.output.samples),
    Path(snakemake.output.structures),
    Path(snakemake.output.summary),
    baseline=Path(baseline) if baseline else None,
)
logging.info("%s", stats)
