"""Snakemake script of rule compare_paper: this run's metrics beside the paper's published ones."""

import json
import logging
from pathlib import Path

from xtalgen.evaluate.paper import comparison_table
from xtalgen.hull.reference import hull_label
from xtalgen.io import atomic_output, log_to_file

log_to_file(snakemake.log[0])
hull = json.loads(Path(snakemake.input.hull).read_text())
run = {
    "constraint": snakemake.params.constraint,
    "max_attempts": snakemake.params.max_attempts,
    "hull": hull_label(hull),
}
table = comparison_table(json.loads(Path(snakemake.input.metrics).read_text()), run)
with atomic_output(Path(snakemake.output[0])) as tmp:
    table.to_csv(tmp, index=False)
logging.info("\n%s", table.to_string(index=False))
