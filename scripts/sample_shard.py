"""Snakemake script of rule sample_shard: one shard's samples, with its own seed."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.lm.base import ModelSpec
from xtalgen.lm.settings import SampleSettings
from xtalgen.lm.stage import sample_files

log_to_file(snakemake.log[0])
values = dict(snakemake.params.settings)
shard = int(snakemake.wildcards.scatteritem.split("-of-")[0])
values["seed"] += shard  # a seed per shard: shards never repeat each other's draws
settings = SampleSettings.from_config(values)
spec = ModelSpec(snakemake.params.base, trust_remote_code=snakemake.params.trust_remote_code)
table = sample_files(
    Path(snakemake.input.requests), spec, Path(snakemake.input.adapter), Path(snakemake.output[0]), settings
)
logging.info("%s", table["status"].value_counts().to_dict())
