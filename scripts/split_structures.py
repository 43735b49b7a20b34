"""Snakemake script of rule split_structures: scatter the candidates over the shards."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import split_structures

log_to_file(snakemake.log[0])
shards = [Path(p) for p in snakemake.output]
n = split_structures(
    Path(snakemake.input[0]),
    shards,
    snakemake.params.max_structures,
    all_unconditional=snakemake.params.all_unconditional,
)
logging.info("%d structures dealt over %d shards", n, len(shards))
