"""Snakemake script of rule plan_samples: every sample request, scattered over the shards."""

import logging
from pathlib import Path

import pandas as pd

from xtalgen.io import log_to_file
from xtalgen.lm.prompt_style import prompt_style_for
from xtalgen.lm.stage import conditions_from_structures, plan_samples

log_to_file(snakemake.log[0])
conditional = snakemake.params.conditional
infill = snakemake.params.infill

# Prompts state formulas as the model was trained to read them (saved with the adapter), unless the
# config overrides it (sample.formula_style).
adapter = Path(snakemake.input.adapter) if getattr(snakemake.input, "adapter", None) else None
style = prompt_style_for(snakemake.params.formula_style, adapter)
logging.info("conditional prompts state formulas in the %s style", style)

conditions = None
if getattr(snakemake.input, "conditions", None):
    path = Path(snakemake.input.conditions)
    if conditional["table"] is None:
        conditions = conditions_from_structures(path, conditional["max_rows"], style)
    else:
        conditions = pd.read_csv(path).head(conditional["max_rows"] or None)
structures = None
if getattr(snakemake.input, "infill", None):
    structures = pd.read_csv(snakemake.input.infill).head(infill["max_rows"] or None)

n = plan_samples(
    [Path(p) for p in snakemake.output],
    unconditional=snakemake.params.unconditional,
    conditions=conditions,
    conditional_per_row=conditional["per_row"],
    infill=structures,
    infill_per_row=infill["per_row"],
    seed=snakemake.params.seed,
    swap_table=infill["swap_table"],
    hold_formula_elements=conditional["formula_elements"],
    formula_style=style,
)
logging.info("%d sample requests over %d shards", n, len(snakemake.output))
