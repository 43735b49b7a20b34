# Sampling stage: plan requests -> scatter over shards (GPU jobs on a cluster) -> gather.


rule plan_samples:
    input:
        unpack(plan_inputs),
    output:
        scatter.sample(f"{RESULTS}/sample/requests/{{scatteritem}}.jsonl"),
    params:
        unconditional=config["sample"]["unconditional"],
        conditional=config["sample"]["conditional"],
        infill=config["sample"]["infill"],
        seed=config["sample"]["seed"],
        formula_style=config["sample"]["formula_style"],
    log:
        f"{RESULTS}/logs/sample/plan_samples.log",
    conda:
        "../envs/lm.yaml"
    script:
        "../scripts/plan_samples.py"


rule sample_shard:
    input:
        unpack(sample_shard_inputs),
    output:
        f"{RESULTS}/sample/shards/{{scatteritem}}.csv",
    params:
        base=base_model(),
        trust_remote_code=config["model"]["trust_remote_code"],
        settings=SampleSettings.from_config(config["sample"]).config_values(),
    log:
        f"{RESULTS}/logs/sample/shard_{{scatteritem}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample/shard_{{scatteritem}}.tsv"
    conda:
        "../envs/lm.yaml"
    threads: 1
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(240),
        gpu=config["sample"]["gpus"],
    script:
        "../scripts/sample_shard.py"


rule infill_baseline:
    input:
        gather.sample(f"{RESULTS}/sample/requests/{{scatteritem}}.jsonl"),
    output:
        report(
            f"{RESULTS}/sample/infill_baseline.csv",
            category="Sampling",
            caption="../report/infill_baseline.rst",
        ),
    params:
        seed=config["sample"]["seed"],
    log:
        f"{RESULTS}/logs/sample/infill_baseline.log",
    conda:
        "../envs/lm.yaml"
    script:
        "../scripts/infill_baseline.py"


rule gather_samples:
    input:
        unpack(gather_inputs),
    output:
        samples=f"{RESULTS}/sample/samples.csv",
        structures=f"{RESULTS}/sample/structures.csv",
        summary=report(
            f"{RESULTS}/sample/summary.json",
            category="Sampling",
            caption="../report/sample_summary.rst",
        ),
    log:
        f"{RESULTS}/logs/sample/gather_samples.log",
    conda:
        "../envs/lm.yaml"
    script:
        "../scripts/gather_samples.py"
