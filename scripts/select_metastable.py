"""Snakemake script of rule select_metastable: the threshold is applied here and nowhere else."""

import json
import logging
from pathlib import Path

import pandas as pd

from xtalgen.hull.reference import hull_label
from xtalgen.io import atomic_output, log_to_file
from xtalgen.prescreen.settings import SelectionSettings
from xtalgen.prescreen.stage import select_files
from xtalgen.report.figures import plot_ehull

log_to_file(snakemake.log[0])
selection = SelectionSettings.from_config(snakemake.params.selection)
chosen = select_files(
    Path(snakemake.input.results),
    selection.ehull_max,
    Path(snakemake.output.metastable),
    Path(snakemake.output.summary),
    out_flagged=Path(snakemake.output.flagged),
    keep_flagged=selection.keep_flagged,
    keep_unconverged=selection.keep_unconverged,
    structures=Path(snakemake.input.structures),
    hull=hull_label(json.loads(Path(snakemake.input.hull).read_text())),
)
results = pd.read_csv(snakemake.input.results, keep_default_na=False, na_values=[""])
with atomic_output(Path(snakemake.output.figure)) as tmp:
    plot_ehull(results, selection.ehull_max, tmp)
logging.info("%d structures at E_hull < %s", len(chosen), selection.ehull_max)
