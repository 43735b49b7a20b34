"""Snakemake script of rule build_hull: the reference hull, built once per run, and what names it."""

import logging
from pathlib import Path

from xtalgen.dataset.sources import resolve_file
from xtalgen.hull.settings import HullSettings
from xtalgen.io import log_to_file
from xtalgen.prescreen.stage import build_hull_file

log_to_file(snakemake.log[0])
params = HullSettings.from_config(snakemake.params.settings)
cache = Path(params.cache_dir) if params.cache_dir else None
out, info = Path(snakemake.output.hull), Path(snakemake.output.info)
if params.reference == "entries":
    entries = resolve_file(params.entries, "hull.entries", cache, params.entries_checksum)
    n = build_hull_file(out, entries=entries, info=info, source=params.entries)
elif params.reference == "mp_api":
    n = build_hull_file(
        out,
        mp_api_structures=Path(snakemake.input.structures),
        mp_api_cache=cache / "mp_api" if cache else None,
        info=info,
    )
else:
    refs = resolve_file(params.elemental_refs, "hull.elemental_refs", cache)
    dataset = [Path(p) for p in snakemake.input.dataset]
    n = build_hull_file(out, dataset=dataset, elemental_refs=refs, info=info)
logging.info("hull (%s reference) of %d entries -> %s", params.reference, n, out)
