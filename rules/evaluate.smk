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


rule evaluate:
    input:
        samples=evaluate_samples(),
        train=f"{RESULTS}/data/{TRAIN_SPLIT}/structures.csv",
        test=f"{RESULTS}/data/{TEST_SPLIT}/structures.csv",
        reference=f"{RESULTS}/evaluate/reference/{TEST_SPLIT}.npz",
        prescreen=f"{RESULTS}/prescreen/results.csv",
        dft=dft_results(),
    output:
        metrics=report(
            f"{RESULTS}/evaluate/metrics.json",
            category="Evaluation",
            caption="../report/metrics.rst",
        ),
    params:
        keep_flagged=config["prescreen"]["keep_flagged"],
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
