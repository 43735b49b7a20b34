"""Snakemake script of rule plot_throughput: samples per second of every sampling job."""

import logging
from pathlib import Path

from xtalgen.io import atomic_output, log_to_file
from xtalgen.report.costs import sampling_throughput
from xtalgen.report.figures import plot_throughput

log_to_file(snakemake.log[0])
table = sampling_throughput(
    [Path(p) for p in snakemake.input.shards], [Path(p) for p in snakemake.input.benchmarks]
)
with atomic_output(Path(snakemake.output.figure)) as tmp:
    plot_throughput(table, tmp)
with atomic_output(Path(snakemake.output.table)) as tmp:
    table.to_csv(tmp, index=False)
logging.info("\n%s", table.to_string(index=False))
