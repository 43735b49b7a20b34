"""Snakemake script of rule pretraining_corpus: the training records plus the extra rows' records."""

import logging
from pathlib import Path

from xtalgen.dataset.corpus import pretraining_corpus
from xtalgen.dataset.settings import PrepareSettings
from xtalgen.io import log_to_file

log_to_file(snakemake.log[0])
settings = PrepareSettings.from_config(snakemake.params.data, workers=snakemake.threads)
summary = pretraining_corpus(
    Path(snakemake.input.records),
    [Path(p) for p in snakemake.input.extra],
    [Path(p) for p in snakemake.input.held_out],
    Path(snakemake.output.summary).parent,
    settings=settings,
    tasks=snakemake.params.tasks,
)
logging.info("%s", summary)
