"""Snakemake script of rule gather_prescreen: the shards' results in one table."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import gather_results

log_to_file(snakemake.log[0])
table = gather_results([Path(p) for p in snakemake.input], Path(snakemake.output[0]))
logging.info("%d results gathered", len(table))
