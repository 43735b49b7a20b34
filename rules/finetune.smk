# Language-model stages: tokenizer and tiny base (model.base: tiny), then LoRA fine-tuning.
# Each rule runs a script; finetune's script runs the `xtalgen lora train` command in a process of its
# own, so that a multi-GPU job can run it under accelerate launch.


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
        formula_style=config["data"]["formula_style"],
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
        base=base_model(),
        # The sections FinetuneSettings reads: training and adapter, the per-use draws' data keys.
        settings={
            "finetune": config["finetune"],
            "data": {
                "infill_fraction": config["data"]["infill_fraction"],
                "formula_style": config["data"]["formula_style"],
                "augment": {"translate": config["data"]["augment"]["translate"]},
            },
            "model": {"trust_remote_code": config["model"]["trust_remote_code"]},
        },
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
    script:
        "../scripts/finetune.py"
