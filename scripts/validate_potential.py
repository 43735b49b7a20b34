"""Snakemake script of rule validate_potential: the accuracy gate before any relaxation."""

from pathlib import Path

from xtalgen.dataset.sources import resolve_file
from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import validate_potential_files
from xtalgen.report.figures import gate_figure

log_to_file(snakemake.log[0])
cache = snakemake.params.cache_dir
refs = resolve_file(snakemake.params.elemental_refs, "hull.elemental_refs", Path(cache) if cache else None)

validate_potential_files(
    dataset=[Path(snakemake.input.dataset)],
    elemental_refs=refs,
    model=snakemake.params.model,
    aggregation=snakemake.params.aggregation,
    out_json=Path(snakemake.output.summary),
    on_errors=gate_figure(Path(snakemake.output.figure)),
    size=snakemake.params.size,
    max_error=snakemake.params.max_error,
)
