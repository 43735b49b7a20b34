"""Snakemake script of rule train_tokenizer: the tiny base's tokenizer from the training records."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.lm.stage import tokenizer_files

log_to_file(snakemake.log[0])
n = tokenizer_files(Path(snakemake.input[0]), Path(snakemake.output[0]), snakemake.params.vocab_size)
logging.info("tokenizer of %d tokens -> %s", n, snakemake.output[0])
