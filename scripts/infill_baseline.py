"""Snakemake script of rule infill_baseline: the paper's uniform swap for every infill request."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.lm.stage import baseline_files

log_to_file(snakemake.log[0])
table = baseline_files([Path(p) for p in snakemake.input], Path(snakemake.output[0]), snakemake.params.seed)
logging.info("%d baseline swaps, %d drawn", len(table), int((table["status"] == "ok").sum()))
