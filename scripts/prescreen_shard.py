"""Snakemake script of rule prescreen_shard: relax and rate one shard, resuming from its journal."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.prescreen.shard import PrescreenSettings, prescreen
from xtalgen.structures_io import read_structures

# Worker processes are spawned and import this file again: only the main process runs the job.
if __name__ == "__main__":
    log_to_file(snakemake.log[0])
    settings = PrescreenSettings.from_config(snakemake.params.settings, threads=snakemake.threads)
    table = prescreen(
        read_structures(Path(snakemake.input.shard)),
        Path(snakemake.input.hull),
        Path(snakemake.output[0]),
        Path(snakemake.params.journal),
        settings,
    )
    logging.info("%s", table["status"].value_counts().to_dict())
