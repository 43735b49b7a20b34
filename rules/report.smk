# Audit material for the report: the run manifest and per-job costs, once every stage has run.


rule run_manifest:
    input:
        metrics=f"{RESULTS}/evaluate/metrics.json",
        hull=f"{RESULTS}/prescreen/hull.json",
        external=provenance_inputs(),
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


rule export_candidates:
    input:
        f"{RESULTS}/prescreen/metastable.csv",
    output:
        report(
            directory(f"{RESULTS}/report/candidates"),
            patterns=["{name}.cif"],
            category="Candidates",
            caption="../report/candidates.rst",
        ),
    params:
        top=20,
    log:
        f"{RESULTS}/logs/report/export_candidates.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/export_candidates.py"


rule plot_validity:
    input:
        f"{RESULTS}/evaluate/metrics.json",
    output:
        report(
            f"{RESULTS}/report/validity.png",
            category="Evaluation",
            caption="../report/validity.rst",
        ),
    log:
        f"{RESULTS}/logs/report/plot_validity.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/plot_validity.py"


rule plot_throughput:
    input:
        shards=gather.sample(f"{RESULTS}/sample/shards/{{scatteritem}}.csv"),
        benchmarks=gather.sample(f"{RESULTS}/benchmarks/sample/shard_{{scatteritem}}.tsv"),
    output:
        figure=report(
            f"{RESULTS}/report/sampling_throughput.png",
            category="Sampling",
            caption="../report/sampling_throughput.rst",
        ),
        table=f"{RESULTS}/report/sampling_throughput.csv",
    log:
        f"{RESULTS}/logs/report/plot_throughput.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/plot_throughput.py"


rule compare_paper:
    input:
        metrics=f"{RESULTS}/evaluate/metrics.json",
        hull=f"{RESULTS}/prescreen/hull.json",
    output:
        report(
            f"{RESULTS}/report/metrics_vs_paper.csv",
            category="Evaluation",
            caption="../report/metrics_vs_paper.rst",
        ),
    params:
        constraint=config["sample"]["constraint"],
        max_attempts=config["sample"]["max_attempts"],
    log:
        f"{RESULTS}/logs/report/compare_paper.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/compare_paper.py"


rule report_tables:
    input:
        unpack(lora_log_input),
        metrics=f"{RESULTS}/evaluate/metrics.json",
        conditional=f"{RESULTS}/evaluate/conditional.csv",
        paper=f"{RESULTS}/report/metrics_vs_paper.csv",
        metastable=f"{RESULTS}/prescreen/metastable.csv",
        flagged=f"{RESULTS}/prescreen/flagged.csv",
        dft_manifest=f"{RESULTS}/dft/manifest.csv",
        costs=f"{RESULTS}/report/job_costs.csv",
        run_manifest=f"{RESULTS}/report/manifest.json",
    output:
        # The landing page (report/workflow.rst) reads this file through the report's file list.
        headline=report(
            f"{RESULTS}/report/headline.rst",
            category="Tables",
            caption="../report/headline.rst",
        ),
        metrics=report(
            f"{RESULTS}/report/tables/metrics.html",
            category="Tables",
            caption="../report/tables_metrics.rst",
        ),
        candidates=report(
            f"{RESULTS}/report/tables/candidates.html",
            category="Tables",
            caption="../report/tables_candidates.rst",
        ),
        conditional=report(
            f"{RESULTS}/report/tables/conditional.html",
            category="Tables",
            caption="../report/tables_conditional.rst",
        ),
        dft=report(
            f"{RESULTS}/report/tables/dft.html",
            category="Tables",
            caption="../report/tables_dft.rst",
        ),
        costs=report(
            f"{RESULTS}/report/tables/costs.html",
            category="Tables",
            caption="../report/tables_costs.rst",
        ),
        manifest=report(
            f"{RESULTS}/report/tables/manifest.html",
            category="Tables",
            caption="../report/tables_manifest.rst",
        ),
    params:
        # The landing page says when conditional samples were held to their formula's elements.
        formula_elements=config["sample"]["conditional"]["formula_elements"],
        # ... and the decoding its samples were drawn with.
        decoding={k: config["sample"][k] for k in ("temperature", "top_p", "element_temperature")},
    log:
        f"{RESULTS}/logs/report/report_tables.log",
    conda:
        "../envs/evaluate.yaml"
    script:
        "../scripts/report_tables.py"
