"""Snakemake script of rule rate_prescreen: the shards' relaxations rated on the hull, in one table."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import rate_files

log_to_file(snakemake.log[0])
table = rate_files(
    [Path(p) for p in snakemake.input.relaxed],
    Path(snakemake.input.hull),
    Path(snakemake.output[0]),
    snakemake.params.max_below_hull,
    structures=Path(snakemake.input.structures),
)
logging.info("%d results rated: %s", len(table), table["status"].value_counts().to_dict())
