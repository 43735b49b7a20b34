"""Snakemake script of rule plot_throughput: samples per second of every sampling job."""

import logging
from pathlib import Path

from xtalgen.io import atomic_output, log_to_file
from xtalgen.provenance import sampling_throughput

log_to_file(snakemake.log[0])
with atomic_output(Path(snakemake.output.figure)) as tmp:
    table = sampling_throughput(
        [Path(p) for p in snakemake.input.shards], [Path(p) for p in snakemake.input.benchmarks], tmp
    )
table.to_csv(snakemake.output.table, index=False)
logging.info("\n%s", table.to_string(index=False))
