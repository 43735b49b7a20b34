"""Snakemake script of rule select_metastable: the threshold is applied here and nowhere else."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import select_files

log_to_file(snakemake.log[0])
chosen = select_files(
    Path(snakemake.input.results),
    snakemake.params.ehull_max,
    Path(snakemake.output.metastable),
    Path(snakemake.output.summary),
    Path(snakemake.output.figure),
    out_flagged=Path(snakemake.output.flagged),
    keep_flagged=snakemake.params.keep_flagged,
    structures=Path(snakemake.input.structures),
)
logging.info("%d structures at E_hull <= %s", len(chosen), snakemake.params.ehull_max)
