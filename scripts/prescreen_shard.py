"""Snakemake script of rule prescreen_shard: relax one shard, resuming from its journal."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.prescreen.settings import PrescreenSettings
from xtalgen.prescreen.shard import relax_structures
from xtalgen.structures_io import read_structures

# Worker processes are spawned and import this file again: only the main process runs the job.
if __name__ == "__main__":
    log_to_file(snakemake.log[0])
    settings = PrescreenSettings.from_config(snakemake.params.settings, threads=snakemake.threads)
    table = relax_structures(
        read_structures(Path(snakemake.input.shard)),
        Path(snakemake.params.journal),
        settings,
        Path(snakemake.output[0]),
    )
    logging.info("%s", table["status"].value_counts().to_dict())
