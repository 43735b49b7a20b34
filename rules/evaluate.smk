# Evaluation stage: CDVAE and paper metrics of the samples, with the prescreen's stability.


rule fingerprint_reference:
    input:
        f"{RESULTS}/data/{{split}}/structures.csv",
    output:
        f"{RESULTS}/evaluate/reference/{{split}}.npz",
    log:
        f"{RESULTS}/logs/evaluate/fingerprint_{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/fingerprint_{{split}}.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    script:
        "../scripts/fingerprint_reference.py"


rule ipt:
    input:
        unpack(ipt_inputs),
    output:
        report(
            f"{RESULTS}/evaluate/ipt.json",
            category="Evaluation",
            caption="../report/ipt.rst",
        ),
    params:
        base=base_model(),
        trust_remote_code=config["model"]["trust_remote_code"],
        settings={k: config["evaluate"][k] for k in ("ipt_structures", "ipt_translations")},
        seed=config["sample"]["seed"],
    log:
        f"{RESULTS}/logs/evaluate/ipt.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/ipt.tsv"
    conda:
        "../envs/lm.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(60),
        gpu=config["sample"]["gpus"],
    script:
        "../scripts/ipt.py"


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=report(
            f"{RESULTS}/evaluate/metrics.json",
            category="Evaluation",
            caption="../report/metrics.rst",
        ),
        # Each conditional sample's request beside what it wrote (the report shows it as a table).
        conditional=f"{RESULTS}/evaluate/conditional.csv",
    params:
        selection={k: config["prescreen"][k] for k in ("ehull_max", "keep_flagged")},
        evaluate=config["evaluate"],
    log:
        f"{RESULTS}/logs/evaluate/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/evaluate.tsv"
    conda:
        "../envs/evaluate.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(8000),
        runtime=by_attempt(120),
    script:
        "../scripts/evaluate.py"
