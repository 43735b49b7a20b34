"""Snakemake script of rule fingerprint_reference: a reference set fingerprinted once per run."""

import logging
from pathlib import Path

from xtalgen.dataset.sources import default_cache_dir
from xtalgen.evaluate.fingerprints import save_reference
from xtalgen.io import log_to_file

# Worker processes are spawned and import this file again: only the main process runs the job.
if __name__ == "__main__":
    log_to_file(snakemake.log[0])
    cache = default_cache_dir() / "fingerprints"  # shared across runs: the splits rarely change
    n = save_reference(Path(snakemake.input[0]), Path(snakemake.output[0]), snakemake.threads, cache)
    logging.info("%d reference structures fingerprinted", n)
