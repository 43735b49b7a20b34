"""Snakemake script of rule build_hull: the reference hull, built once per run."""

import logging
from pathlib import Path

from xtalgen.dataset.sources import resolve_file
from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import build_hull_file

log_to_file(snakemake.log[0])
cache = Path(snakemake.params.cache_dir) if snakemake.params.cache_dir else None
reference = snakemake.params.reference
out = Path(snakemake.output[0])
if reference == "entries":
    n = build_hull_file(out, entries=Path(snakemake.input.entries))
elif reference == "mp_api":
    n = build_hull_file(
        out,
        mp_api_structures=Path(snakemake.input.structures),
        mp_api_cache=cache / "mp_api" if cache else None,
    )
else:
    refs = resolve_file(snakemake.params.elemental_refs, "hull.elemental_refs", cache)
    n = build_hull_file(out, dataset=[Path(p) for p in snakemake.input.dataset], elemental_refs=refs)
logging.info("hull (%s reference) of %d entries -> %s", reference, n, out)
