"""Snakemake script of rule plot_validity: the validity breakdown figure of the report."""

import json
from pathlib import Path

from xtalgen.io import atomic_output, log_to_file
from xtalgen.report.figures import plot_validity

log_to_file(snakemake.log[0])
metrics = json.loads(Path(snakemake.input[0]).read_text())
n_valid = round(metrics["validity"] * metrics["n_samples"])
with atomic_output(Path(snakemake.output[0])) as tmp:
    plot_validity(metrics["invalid_reasons"], n_valid, tmp, f"{metrics['task']} samples")
