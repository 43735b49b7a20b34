# Prescreen stage: accuracy gate -> scatter shards -> relax -> gather and rate on the hull -> select.
# The relaxations do not depend on the hull: a changed hull re-rates, it never relaxes again.


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
        hull=f"{RESULTS}/prescreen/hull.json.gz",
        info=report(
            f"{RESULTS}/prescreen/hull.json",
            category="Prescreen",
            caption="../report/hull.rst",
        ),
    params:
        settings=lambda wc: config["hull"] | {"cache_dir": path_setting("hull.cache_dir")},
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
        all_unconditional=config["prescreen"]["all_unconditional"],
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
        f"{RESULTS}/prescreen/shards/{{scatteritem}}.relaxed.csv",
    params:
        settings=PrescreenSettings.from_config(
            {**config["prescreen"], "model": potential_model()}
        ).config_values(),
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


rule rate_prescreen:
    input:
        relaxed=gather.prescreen(f"{RESULTS}/prescreen/shards/{{scatteritem}}.relaxed.csv"),
        hull=f"{RESULTS}/prescreen/hull.json.gz",
        # Each structure's task and source, carried into every table that follows.
        structures=prescreen_structures(),
    output:
        f"{RESULTS}/prescreen/results.csv",
    params:
        max_below_hull=config["prescreen"]["max_below_hull"],
    log:
        f"{RESULTS}/logs/prescreen/rate.log",
    benchmark:
        f"{RESULTS}/benchmarks/prescreen/rate.tsv"
    conda:
        "../envs/prescreen.yaml"
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    script:
        "../scripts/rate_prescreen.py"


rule select_metastable:
    input:
        results=f"{RESULTS}/prescreen/results.csv",
        structures=prescreen_structures(),
        # What the rates are measured against: the summary names it beside them.
        hull=f"{RESULTS}/prescreen/hull.json",
    output:
        metastable=report(
            f"{RESULTS}/prescreen/metastable.csv",
            category="Prescreen",
            caption="../report/metastable.rst",
        ),
        flagged=report(
            f"{RESULTS}/prescreen/flagged.csv",
            category="Prescreen",
            caption="../report/flagged.rst",
        ),
        summary=f"{RESULTS}/prescreen/summary.json",
        figure=report(
            f"{RESULTS}/prescreen/e_above_hull.png",
            category="Prescreen",
            caption="../report/e_above_hull.rst",
        ),
    params:
        selection={k: config["prescreen"][k] for k in ("ehull_max", "keep_flagged", "keep_unconverged")},
    log:
        f"{RESULTS}/logs/prescreen/select_metastable.log",
    conda:
        "../envs/prescreen.yaml"
    script:
        "../scripts/select_metastable.py"
