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
    return expand(
        f"{RESULTS}/data/{{split}}/{{name}}",
        split=SPLITS,
        name=["structures.csv", "prompts.jsonl", "rejects.csv", "summary.json"],
    )
