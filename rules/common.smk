# Input functions, paths and config helpers shared by every stage.
import os
from pathlib import Path

# Tests, CI and the embedded config find the shared data through this variable.
os.environ.setdefault(
    "XTALGEN_SHARED_DATA", str((Path(workflow.basedir) / ".." / "shared" / "data").resolve())
)

RESULTS = config["results"]
SPLITS = config["data"]["splits"]


def config_path(key):
    """A path from config key `key` (dotted), with ~ and $VARS expanded; None stays None."""
    value = config
    for part in key.split("."):
        value = value[part]
    if value is None:
        return None
    expanded = os.path.expanduser(os.path.expandvars(str(value)))
    if "$" in expanded:
        raise WorkflowError(
            f"config key {key}: {value!r} names an environment variable that is not set"
        )
    return Path(expanded)


def dataset_file(split):
    """The local CSV of a split when data.local_dir is set (Snakemake then tracks its date)."""
    from xtalgen.sources import DatasetUnavailableError, find_split_file

    local_dir = config_path("data.local_dir")
    if local_dir is None:
        return []
    if not local_dir.is_dir():
        raise WorkflowError(
            f"config key data.local_dir: {local_dir} is not a folder. Set it to a folder holding "
            "train/val/test CSV(.gz) files, or to null to download from data.url"
        )
    try:
        return str(find_split_file(local_dir, split))
    except DatasetUnavailableError as err:
        raise WorkflowError(f"config key data.local_dir: {err}") from None


def prepare_settings():
    """Keyword arguments of xtalgen.data_prepare.PrepareSettings, from config['data']."""
    data = config["data"]
    return {
        "seed": data["seed"],
        "copies": data["augment"]["copies"],
        "translate": data["augment"]["translate"],
        "augment_splits": tuple(data["augment"]["splits"]),
        "infill_fraction": data["infill_fraction"],
        "strict": data["strict"],
        "max_rows": data["max_rows"],
    }


def all_outputs():
    """Final targets: everything the landed stages produce."""
    data = expand(
        f"{RESULTS}/data/{{split}}/{{name}}",
        split=SPLITS,
        name=["structures.csv", "prompts.jsonl", "rejects.csv", "summary.json"],
    )
    prescreen = expand(
        f"{RESULTS}/prescreen/{{name}}",
        name=["results.csv", "metastable.csv", "summary.json", "e_above_hull.png", "model_check.png"],
    )
    return data + prescreen


def _expanded(value):
    return os.path.expanduser(os.path.expandvars(str(value)))


def elemental_refs_input():
    """The elemental references as a tracked input when local; a URL is fetched by the job."""
    value = config["hull"]["elemental_refs"]
    if value is None:
        raise WorkflowError(
            "config key hull.elemental_refs: the accuracy gate and the dataset hull need MP's "
            "elemental reference entries; set a path or URL"
        )
    if value.startswith(("http://", "https://")):
        return []
    path = config_path("hull.elemental_refs")
    if not path.is_file():
        raise WorkflowError(f"config key hull.elemental_refs: {path} is not a file; give a path or URL")
    return str(path)


def potential_model():
    """prescreen.model with $VARS expanded: a folder, or a name matgl loads online."""
    return _expanded(config["prescreen"]["model"])


def potential_model_input():
    model = Path(potential_model())
    if model.is_dir():
        return str(model)
    if os.sep in str(config["prescreen"]["model"]):
        raise WorkflowError(
            f"config key prescreen.model: {model} is not a folder; give a matgl model folder "
            "or a model name such as M3GNet-MP-2021.2.8-PES"
        )
    return []


def gate_inputs(wildcards):
    split = "train" if "train" in SPLITS else SPLITS[0]
    return {
        "dataset": f"{RESULTS}/data/{split}/structures.csv",
        "refs": elemental_refs_input(),
        "model": potential_model_input(),
    }


def prescreen_structures():
    """The structures the prescreen rates: prescreen.structures, else the test split."""
    if config["prescreen"]["structures"] is not None:
        path = config_path("prescreen.structures")
        if not path.exists():
            raise WorkflowError(
                f"config key prescreen.structures: {path} does not exist; give a CSV with a cif "
                "column, a folder of CIFs or an extxyz file"
            )
        return str(path)
    split = "test" if "test" in SPLITS else SPLITS[-1]
    return f"{RESULTS}/data/{split}/structures.csv"


def hull_inputs(wildcards):
    reference = config["hull"]["reference"]
    if reference == "entries":
        if config["hull"]["entries"] is None:
            raise WorkflowError(
                "config key hull.entries: hull.reference is entries, so hull.entries must name a "
                "JSON(.gz) file of MP ComputedStructureEntries"
            )
        return {"entries": str(config_path("hull.entries"))}
    if reference == "mp_api":
        return {"structures": prescreen_structures()}
    return {
        "dataset": expand(f"{RESULTS}/data/{{split}}/structures.csv", split=SPLITS),
        "refs": elemental_refs_input(),
    }


def shard_inputs(wildcards):
    return {
        "shard": f"{RESULTS}/prescreen/shards/{wildcards.scatteritem}.csv",
        "hull": f"{RESULTS}/prescreen/hull.json.gz",
        "gate": f"{RESULTS}/prescreen/model_check.json",
        "model": potential_model_input(),
    }


def prescreen_settings():
    """The flat prescreen settings a shard's results depend on."""
    keys = ("aggregation", "fmax", "steps", "max_seconds", "min_sites", "max_sites", "workers")
    return {"model": potential_model(), **{k: config["prescreen"][k] for k in keys}}
