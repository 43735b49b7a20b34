# Prescreen stage: accuracy gate -> hull -> scatter shards -> relax and rate -> gather -> select.


rule validate_potential:
    input:
        unpack(gate_inputs),
    output:
        summary=f"{RESULTS}/prescreen/model_check.json",
        figure=report(
            f"{RESULTS}/prescreen/model_check.png",
            category="Prescreen",
            caption="../report/model_check.rst",
        ),
    params:
        model=potential_model(),
        aggregation=config["prescreen"]["aggregation"],
        size=config["prescreen"]["validation_size"],
        max_error=config["prescreen"]["max_model_error"],
        elemental_refs=config["hull"]["elemental_refs"],
        cache_dir=lambda wc: config_path("hull.cache_dir"),
    log:
        f"{RESULTS}/logs/prescreen/validate_potential.log",
    benchmark:
        f"{RESULTS}/benchmarks/prescreen/validate_potential.tsv"
    conda:
        "../envs/prescreen.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(30),
    script:
        "../scripts/validate_potential.py"


rule build_hull:
    input:
        unpack(hull_inputs),
    output:
        f"{RESULTS}/prescreen/hull.json.gz",
    params:
        reference=config["hull"]["reference"],
        elemental_refs=config["hull"]["elemental_refs"],
        cache_dir=lambda wc: config_path("hull.cache_dir"),
    log:
        f"{RESULTS}/logs/prescreen/build_hull.log",
    benchmark:
        f"{RESULTS}/benchmarks/prescreen/build_hull.tsv"
    conda:
        "../envs/prescreen.yaml"
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(60),
    script:
        "../scripts/build_hull.py"


rule split_structures:
    input:
        prescreen_structures(),
    output:
        scatter.prescreen(f"{RESULTS}/prescreen/shards/{{scatteritem}}.csv"),
    params:
        max_structures=config["prescreen"]["max_structures"],
    log:
        f"{RESULTS}/logs/prescreen/split_structures.log",
    conda:
        "../envs/prescreen.yaml"
    script:
        "../scripts/split_structures.py"


rule prescreen_shard:
    input:
        unpack(shard_inputs),
    output:
        f"{RESULTS}/prescreen/shards/{{scatteritem}}.results.csv",
    params:
        settings=prescreen_settings(),
        # Outside the outputs, so Snakemake keeps it when a job fails: a rerun resumes from it.
        journal=f"{RESULTS}/prescreen/journal/{{scatteritem}}.jsonl",
    log:
        f"{RESULTS}/logs/prescreen/shard_{{scatteritem}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prescreen/shard_{{scatteritem}}.tsv"
    conda:
        "../envs/prescreen.yaml"
    threads: config["prescreen"]["threads"]
    retries: 1
    resources:
        mem_mb=by_attempt(
            config["prescreen"]["mem_mb"]
            * (config["prescreen"]["workers"] or config["prescreen"]["threads"])
        ),
        runtime=by_attempt(config["prescreen"]["runtime"]),
    script:
        "../scripts/prescreen_shard.py"


rule gather_prescreen:
    input:
        gather.prescreen(f"{RESULTS}/prescreen/shards/{{scatteritem}}.results.csv"),
    output:
        f"{RESULTS}/prescreen/results.csv",
    log:
        f"{RESULTS}/logs/prescreen/gather.log",
    conda:
        "../envs/prescreen.yaml"
    script:
        "../scripts/gather_prescreen.py"


rule select_metastable:
    input:
        f"{RESULTS}/prescreen/results.csv",
    output:
        metastable=report(
            f"{RESULTS}/prescreen/metastable.csv",
            category="Prescreen",
            caption="../report/metastable.rst",
        ),
        summary=f"{RESULTS}/prescreen/summary.json",
        figure=report(
            f"{RESULTS}/prescreen/e_above_hull.png",
            category="Prescreen",
            caption="../report/e_above_hull.rst",
        ),
    params:
        ehull_max=config["prescreen"]["ehull_max"],
    log:
        f"{RESULTS}/logs/prescreen/select_metastable.log",
    conda:
        "../envs/prescreen.yaml"
    script:
        "../scripts/select_metastable.py"
