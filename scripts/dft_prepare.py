"""Snakemake script of rule dft_prepare: flows and first-job VASP inputs of the metastable candidates."""

import logging
from pathlib import Path

from xtalgen.dft.stage import prepare_files
from xtalgen.io import log_to_file

log_to_file(snakemake.log[0])
table = prepare_files(
    Path(snakemake.input[0]),
    Path(snakemake.output.flows),
    Path(snakemake.output.manifest),
    dict(snakemake.params.settings),
)
logging.info("%d flows prepared", len(table))
