"""Snakemake script of rule dft_collect: whatever has finished so far, merged with earlier results."""

import logging
from pathlib import Path

from xtalgen.dft.stage import collect_files
from xtalgen.io import atomic_output, log_to_file
from xtalgen.prescreen.settings import SelectionSettings
from xtalgen.report.figures import plot_dft_ehull

log_to_file(snakemake.log[0])
selection = SelectionSettings.from_config(snakemake.params.selection)
table, summary = collect_files(
    Path(snakemake.params.state),
    Path(snakemake.input.hull),
    Path(snakemake.input.structures),
    manifest=Path(snakemake.input.manifest),
    ehull_max=selection.ehull_max,
    out_csv=Path(snakemake.output.table),
    out_summary=Path(snakemake.output.summary),
)
with atomic_output(Path(snakemake.output.figure)) as tmp:
    plot_dft_ehull(table, tmp, selection.ehull_max)
logging.info("%s", summary)
