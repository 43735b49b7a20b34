"""Snakemake script of rule pretrain_tiny: the tiny LLaMA base, and its loss curve for the report."""

import logging
import os
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = str(snakemake.threads)  # before torch starts its thread pool

from xtalgen.io import log_to_file
from xtalgen.lm.stage import pretrain_files
from xtalgen.lm.tiny import TinyModelSettings
from xtalgen.lm.training import TrainSettings
from xtalgen.report.figures import pretraining_loss_figure

log_to_file(snakemake.log[0])
section = snakemake.params.tiny
out = Path(snakemake.output.table).parent
n = pretrain_files(
    Path(snakemake.input.tokenizer),
    Path(snakemake.input.records),
    Path(snakemake.input.val),
    out,
    model_settings=TinyModelSettings.from_config(section),
    train_settings=TrainSettings.for_tiny_base(section, snakemake.params.seed),
    val_limit=snakemake.params.val_limit,
    formula_style=snakemake.params.formula_style,
)
pretraining_loss_figure(out, n)
logging.info("tiny LLaMA of %d parameters -> %s", n, snakemake.output.model)
