# DFT stage: prepare atomate2 flows -> submit (local or FireWorks) -> collect E_hull^DFT.
# The state folder (ledger, job store, embedded LaunchPad, run folders) is not an output: Snakemake
# never deletes it, so a rerun never submits a candidate twice and collection never loses a result.


rule dft_prepare:
    input:
        f"{RESULTS}/prescreen/metastable.csv",
    output:
        flows=directory(f"{RESULTS}/dft/prepared"),
        manifest=report(
            f"{RESULTS}/dft/manifest.csv",
            category="DFT",
            caption="../report/dft_manifest.rst",
        ),
    params:
        settings=config["dft"] | {"potcar_dir": path_setting("dft.potcar_dir")},
    log:
        f"{RESULTS}/logs/dft/prepare.log",
    conda:
        "../envs/dft.yaml"
    script:
        "../scripts/dft_prepare.py"


rule dft_submit:
    input:
        f"{RESULTS}/dft/prepared",
    output:
        f"{RESULTS}/dft/submitted.csv",
    params:
        state=DFT_STATE,
        backend=config["dft"]["backend"],
        store=config["dft"]["store"],
        launchpad=lambda wc: path_setting("dft.launchpad"),
    log:
        f"{RESULTS}/logs/dft/submit.log",
    benchmark:
        f"{RESULTS}/benchmarks/dft/submit.tsv"
    conda:
        "../envs/dft.yaml"
    threads: config["dft"]["threads"]
    resources:
        mem_mb=by_attempt(config["dft"]["mem_mb"]),
        runtime=by_attempt(config["dft"]["runtime"]),
    script:
        "../scripts/dft_submit.py"


rule dft_collect:
    input:
        submitted=f"{RESULTS}/dft/submitted.csv",
        # This run's candidates: the results and rates count these, not every submission ever.
        manifest=f"{RESULTS}/dft/manifest.csv",
        hull=f"{RESULTS}/prescreen/hull.json.gz",
        # Every structure generated (or given): the denominator of the DFT stable rate.
        structures=prescreen_structures(),
    output:
        table=report(
            f"{RESULTS}/dft/results.csv",
            category="DFT",
            caption="../report/dft_results.rst",
        ),
        summary=f"{RESULTS}/dft/summary.json",
        figure=report(
            f"{RESULTS}/dft/e_above_hull_dft.png",
            category="DFT",
            caption="../report/dft_e_above_hull.rst",
        ),
    params:
        state=DFT_STATE,
        selection={k: config["prescreen"][k] for k in ("ehull_max", "keep_flagged")},
    log:
        f"{RESULTS}/logs/dft/collect.log",
    conda:
        "../envs/dft.yaml"
    script:
        "../scripts/dft_collect.py"
