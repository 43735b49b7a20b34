"""Snakemake script of rule ipt: the fine-tuned model's increase in perplexity under translation."""

import logging
import os
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = str(snakemake.threads)  # before torch starts its thread pool

from xtalgen.evaluate.settings import EvaluateSettings
from xtalgen.io import log_to_file
from xtalgen.lm.base import ModelSpec
from xtalgen.lm.stage import ipt_files

log_to_file(snakemake.log[0])
settings = EvaluateSettings.from_config(snakemake.params.settings)
result = ipt_files(
    ModelSpec(snakemake.params.base, trust_remote_code=snakemake.params.trust_remote_code),
    Path(snakemake.input.adapter),
    Path(snakemake.input.structures),
    Path(snakemake.output[0]),
    translations=settings.ipt_translations,
    max_structures=settings.ipt_structures,
    seed=snakemake.params.seed,
)
logging.info("IPT %s", result)
