# Audit material for the report: the run manifest and per-job costs, once every stage has run.


rule run_manifest:
    input:
        f"{RESULTS}/evaluate/metrics.json",
    output:
        manifest=report(
            f"{RESULTS}/report/manifest.json",
            category="Provenance",
            caption="../report/manifest.rst",
        ),
        costs=report(
            f"{RESULTS}/report/job_costs.csv",
            category="Provenance",
            caption="../report/job_costs.rst",
        ),
    params:
        config=config,
        repo=workflow.basedir,
        benchmarks=f"{RESULTS}/benchmarks",
    log:
        f"{RESULTS}/logs/report/run_manifest.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/run_manifest.py"
