"""Snakemake script of rule report_tables: the report's tables as HTML, shown inline."""

import logging
from pathlib import Path

from xtalgen.io import log_to_file
from xtalgen.report.pages import report_pages

log_to_file(snakemake.log[0])
inputs = {name: Path(value) for name, value in snakemake.input.items()}
report_pages(
    **inputs,
    out={name: Path(value) for name, value in snakemake.output.items()},
    formula_elements_held=snakemake.params.formula_elements,
    decoding=dict(snakemake.params.decoding),
)
logging.info("tables written: %s", ", ".join(snakemake.output))
