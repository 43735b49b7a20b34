"""Snakemake script of rule dft_submit: run or queue every prepared flow not submitted before."""

import logging
from pathlib import Path

from xtalgen.dft.stage import submit_files
from xtalgen.io import log_to_file

log_to_file(snakemake.log[0])
table = submit_files(
    Path(snakemake.input[0]),
    Path(snakemake.params.state),
    Path(snakemake.output[0]),
    backend=snakemake.params.backend,
    store=snakemake.params.store,
    launchpad=snakemake.params.launchpad,
)
logging.info("\n%s", table.to_string(index=False))
