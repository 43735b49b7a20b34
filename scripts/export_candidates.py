"""Snakemake script of rule export_candidates: the top candidates' CIFs for the report."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.report.candidates import export_candidates

log_to_file(snakemake.log[0])
n = export_candidates(Path(snakemake.input[0]), Path(snakemake.output[0]), snakemake.params.top)
logging.info("%d candidate CIFs", n)
