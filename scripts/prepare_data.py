"""Snakemake script of rule prepare_data: hands the rule's files and settings to the library."""

import logging
from pathlib import Path

from xtalgen.dataset.prepare import prepare_split, split_outputs
from xtalgen.dataset.settings import PrepareSettings
from xtalgen.dataset.sources import resolve_split
from xtalgen.io import log_to_file

log_to_file(snakemake.log[0])

split = snakemake.wildcards.split
out_dir = Path(snakemake.output.structures).parent
expected = {k: str(v) for k, v in split_outputs(out_dir).items()}
declared = {k: str(Path(v)) for k, v in snakemake.output.items()}
if declared != expected:
    raise RuntimeError(f"rule outputs {declared} differ from the library's layout {expected}")

if snakemake.input.csv:
    source = Path(snakemake.input.csv)
else:
    cache = snakemake.params.cache_dir
    source = resolve_split(
        split,
        local_dir=None,
        url=snakemake.params.url,
        sha256=snakemake.params.sha256,
        cache_dir=Path(cache) if cache else None,
    )
settings = PrepareSettings.from_config(snakemake.params.settings, workers=snakemake.threads)
summary = prepare_split(source, split, out_dir, settings)
logging.info("%s", summary)
