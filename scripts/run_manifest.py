"""Snakemake script of rule run_manifest: configuration, versions and job costs for the report."""

import json
import logging
from pathlib import Path

from xtalgen.io import atomic_output, log_to_file
from xtalgen.provenance import input_checksums, manifest
from xtalgen.report.costs import benchmark_table

log_to_file(snakemake.log[0])
with atomic_output(Path(snakemake.output.manifest)) as tmp:
    record = manifest(dict(snakemake.params.config), Path(snakemake.params.repo))
    record["input_checksums"] = input_checksums([Path(p) for p in snakemake.input.external])
    record["hull"] = json.loads(Path(snakemake.input.hull).read_text())
    tmp.write_text(json.dumps(record, indent=2))
root = Path(snakemake.params.benchmarks)
table = benchmark_table(list(root.rglob("*.tsv")), root)
with atomic_output(Path(snakemake.output.costs)) as tmp:
    table.to_csv(tmp, index=False)
logging.info("%d benchmarked jobs", len(table))
