# xtalgen: crystal dataset -> fine-tuned language model -> generated crystals -> verified materials.
# Stages live in rules/*.smk; all logic lives in the xtalgen library (src/xtalgen).
from pathlib import Path

from snakemake.utils import min_version, validate

from xtalgen.config_check import ConfigError, check_config, coerce_overrides

min_version("9.0")


configfile: "config.yaml"


try:
    coerce_overrides(config, Path(workflow.basedir) / "config.schema.yaml")
    check_config(config, Path(workflow.basedir) / "config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None
validate(config, "config.schema.yaml", set_default=True)


report: "report/workflow.rst"


scattergather:
    sample=config["sample"]["shards"],
    prescreen=config["prescreen"]["shards"],


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/finetune.smk"
include: "rules/sample.smk"
include: "rules/prescreen.smk"
include: "rules/dft.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


wildcard_constraints:
    split="|".join(SPLITS),
    scatteritem=r"\d+-of-\d+",


rule all:
    input:
        all_outputs(),
    default_target: True
