# xtalgen: crystal dataset -> fine-tuned language model -> generated crystals -> verified materials.
# Stages live in rules/*.smk; all logic lives in the xtalgen library (src/xtalgen).
from pathlib import Path

from snakemake.utils import min_version, validate

import jsonschema

from xtalgen.config_check import ConfigError, check_config, coerce_overrides, describe_schema_error

min_version("9.0")


configfile: "config.yaml"


# Snakemake's validate is the one schema check (and fills in the defaults); its error is reworded as
# the config key and what is allowed there.
coerce_overrides(config, Path(workflow.basedir) / "config.schema.yaml")
try:
    validate(config, "config.schema.yaml", set_default=True)
except WorkflowError as err:
    cause = err.__cause__ or err.__context__  # the schema's ValidationError
    if not isinstance(cause, jsonschema.ValidationError):
        raise
    raise WorkflowError(
        f"{describe_schema_error(cause)}. Every key is described in config.schema.yaml."
    ) from None
try:
    check_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None


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
