# Language-model stages: tokenizer and tiny base (model.base: tiny), then LoRA fine-tuning.
# Each rule runs a script, except finetune: it calls the `xtalgen` command, so that a multi-GPU job
# can run under accelerate; XTALGEN_ERROR_TERMS=config makes its errors name config keys.


rule train_tokenizer:
    input:
        f"{RESULTS}/data/{TRAIN_SPLIT}/prompts.jsonl",
    output:
        directory(f"{RESULTS}/model/tokenizer"),
    params:
        vocab_size=config["model"]["tiny"]["vocab_size"],
    log:
        f"{RESULTS}/logs/model/train_tokenizer.log",
    benchmark:
        f"{RESULTS}/benchmarks/model/train_tokenizer.tsv"
    conda:
        "../envs/lm.yaml"
    script:
        "../scripts/train_tokenizer.py"


rule pretraining_corpus:
    input:
        records=f"{RESULTS}/data/{TRAIN_SPLIT}/prompts.jsonl",
        extra=tiny_extra_data(),
        held_out=expand(
            f"{RESULTS}/data/{{split}}/structures.csv",
            split=sorted({VAL_SPLIT, TEST_SPLIT} - {TRAIN_SPLIT}),
        ),
    output:
        records=f"{RESULTS}/model/corpus/prompts.jsonl",
        structures=f"{RESULTS}/model/corpus/structures.csv",
        summary=f"{RESULTS}/model/corpus/summary.json",
    params:
        tasks=config["model"]["tiny"]["pretrain_tasks"],
        # The corpus draws its tasks as the data stage does, from the seed and the task mix.
        data={k: config["data"][k] for k in ("seed", "infill_fraction", "formula_style")},
    log:
        f"{RESULTS}/logs/model/pretraining_corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/model/pretraining_corpus.tsv"
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(30),
    script:
        "../scripts/pretraining_corpus.py"


rule pretrain_tiny:
    input:
        tokenizer=f"{RESULTS}/model/tokenizer",
        records=pretraining_records(),
        val=f"{RESULTS}/data/{VAL_SPLIT}/prompts.jsonl",
    output:
        model=directory(f"{RESULTS}/model/tiny/model"),
        table=f"{RESULTS}/model/tiny/training_log.csv",
        figure=report(
            f"{RESULTS}/model/tiny/loss.png",
            category="Language model",
            caption="../report/pretrain_loss.rst",
        ),
    params:
        tiny=config["model"]["tiny"],
        seed=config["finetune"]["seed"],
        val_limit=64,
    log:
        f"{RESULTS}/logs/model/pretrain_tiny.log",
    benchmark:
        f"{RESULTS}/benchmarks/model/pretrain_tiny.tsv"
    conda:
        "../envs/lm.yaml"
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=by_attempt(60),
    script:
        "../scripts/pretrain_tiny.py"


rule finetune:
    input:
        unpack(finetune_inputs),
    output:
        adapter=directory(f"{RESULTS}/finetune/adapter"),
        table=f"{RESULTS}/finetune/training_log.csv",
        figure=report(
            f"{RESULTS}/finetune/loss.png",
            category="Language model",
            caption="../report/finetune_loss.rst",
        ),
    params:
        launcher=train_launcher(),
        data="--structures" if config["finetune"]["draw"] == "per_use" else "--records",
        base=base_model(),
        args=lora_cli_args(),
        out=lambda wc, output: Path(output.table).parent,
    log:
        f"{RESULTS}/logs/finetune/finetune.log",
    benchmark:
        f"{RESULTS}/benchmarks/finetune/finetune.tsv"
    conda:
        "../envs/lm.yaml"
    threads: 2
    retries: 1
    resources:
        mem_mb=by_attempt(16000),
        runtime=by_attempt(720),
        gpu=config["finetune"]["gpus"],
    shell:
        "OMP_NUM_THREADS={threads} XTALGEN_ERROR_TERMS=config {params.launcher} lora train --base {params.base} "
        "{params.data} {input.train} --val-records {input.val} --out {params.out} {params.args} "
        "> {log} 2>&1"
