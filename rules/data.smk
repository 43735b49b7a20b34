# Data stage: MP-20-style CSV splits -> structures tables, prompt records, rejects.


rule prepare_data:
    input:
        csv=lambda wc: dataset_file(wc.split),
    output:
        structures=f"{RESULTS}/data/{{split}}/structures.csv",
        prompts=f"{RESULTS}/data/{{split}}/prompts.jsonl",
        rejects=f"{RESULTS}/data/{{split}}/rejects.csv",
        summary=f"{RESULTS}/data/{{split}}/summary.json",
    params:
        settings=PrepareSettings.from_config(config["data"]).config_values(),
        url=config["data"]["url"],
        sha256=config["data"]["sha256"],
        cache_dir=lambda wc: config_path("data.cache_dir"),
    log:
        f"{RESULTS}/logs/data/prepare_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/data/prepare_{{split}}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(30),
    script:
        "../scripts/prepare_data.py"
