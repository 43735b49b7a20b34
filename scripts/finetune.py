"""Snakemake script of rule finetune: LoRA training through the `xtalgen lora train` command.

The command runs in its own process so that a job of several GPUs can run it under `accelerate
launch`; it reads the stage's settings from the JSON written here, and names config keys in its
errors (XTALGEN_ERROR_TERMS=config).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from xtalgen.lm.settings import FinetuneSettings

settings = FinetuneSettings.from_config(snakemake.params.settings)
out = Path(snakemake.output.table).parent
out.mkdir(parents=True, exist_ok=True)
settings_file = out / "settings.json"
settings_file.write_text(settings.to_json())

command = [sys.executable, "-m", "xtalgen.cli"]
if settings.gpus > 1:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    gpus = str(settings.gpus)
    command = [accelerate, "launch", "--multi_gpu", "--num_processes", gpus, "-m", "xtalgen.cli"]
data = "--structures" if settings.draw is not None else "--records"
command += ["lora", "train", "--base", snakemake.params.base, data, snakemake.input.train]
command += ["--val-records", snakemake.input.val, "--out", str(out), "--settings", str(settings_file)]

env = os.environ | {"OMP_NUM_THREADS": str(snakemake.threads), "XTALGEN_ERROR_TERMS": "config"}
with Path(snakemake.log[0]).open("w") as log:
    log.write(" ".join(command) + "\n")
    log.flush()
    code = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
if code:
    sys.exit(f"xtalgen lora train exited with status {code}: its reason is in {snakemake.log[0]}")
