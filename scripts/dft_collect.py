"""Snakemake script of rule dft_collect: whatever has finished so far, merged with earlier results."""

import logging
from pathlib import Path

from xtalgen.dft.stage import collect_files
from xtalgen.io import log_to_file

log_to_file(snakemake.log[0])
summary = collect_files(
    Path(snakemake.params.state),
    Path(snakemake.input.hull),
    Path(snakemake.input.structures),
    out_csv=Path(snakemake.output.table),
    out_summary=Path(snakemake.output.summary),
    out_png=Path(snakemake.output.figure),
)
logging.info("%s", summary)
