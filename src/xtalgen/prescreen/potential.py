"""Load the machine-learned potential once per job, computing it the way it was trained."""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.errors import XtalgenError, setting
from xtalgen.prescreen.m3gnet_compat import predates_source_aggregation, restore_destination_aggregation

if TYPE_CHECKING:
    from matgl.apps.pes import Potential

    from xtalgen.prescreen.m3gnet_compat import Aggregation

__all__ = [
    "DEFAULT_MODEL",
    "LoadedPotential",
    "PotentialUnavailableError",
    "load_potential",
    "weights_sha256",
]

DEFAULT_MODEL = "M3GNet-MP-2021.2.8-PES"
log = logging.getLogger(__name__)


class PotentialUnavailableError(XtalgenError, RuntimeError):
    """The potential cannot be loaded: no such folder, and no way to fetch it by name."""


@dataclass(frozen=True)
class LoadedPotential:
    """A matgl potential and how its message aggregation was set."""

    potential: Potential
    source: str
    aggregation: str


def weights_sha256(model: str | Path) -> str:
    """SHA-256 over the files of a model folder, so results follow the weights, not the folder's name.

    A model given by name (fetched by matgl) is identified by that name.
    """
    folder = Path(str(model)).expanduser()
    if not folder.is_dir():
        return f"name:{model}"
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def check_potential_source(model: str | Path) -> bool:
    """Whether ``model`` is a local folder; a missing path, or a name while offline, is refused.

    Checked before any worker process starts, so the error is printed once. A name is fetched by matgl.
    """
    folder = Path(str(model)).expanduser()
    if folder.is_dir():
        return True
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    looks_like_path = os.sep in str(model) or str(model).startswith((".", "~"))
    if offline or looks_like_path:
        raise PotentialUnavailableError(
            f"{setting('prescreen.model')} {model!r} is not a local folder"
            + (" and HF_HUB_OFFLINE is set" if offline else "")
            + f": set {setting('prescreen.model')} to a folder holding model.json, "
            "model.pt and state.pt, such as matgl's pretrained_models/M3GNet-MP-2021.2.8-PES"
        )
    return False


def load_potential(model: str | Path, aggregation: Aggregation = "auto") -> LoadedPotential:
    """Load ``model`` (a local folder, or a matgl pretrained name fetched online).

    ``aggregation="auto"`` restores destination aggregation only for weights known to predate
    matgl 3.0; ``"destination"`` and ``"source"`` force one convention.
    """
    import matgl  # noqa: PLC0415 - heavy import, only where a potential is needed

    folder = Path(str(model)).expanduser()
    is_local = check_potential_source(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            potential = matgl.load_model(str(folder) if is_local else str(model))
    except Exception as err:
        raise PotentialUnavailableError(f"cannot load potential {model!r}: {err}") from err

    restore = aggregation == "destination" or (
        aggregation == "auto" and is_local and predates_source_aggregation(folder)
    )
    if restore:
        layers = restore_destination_aggregation(potential)
        log.info("restored destination aggregation on %d M3GNet layers of %s", layers, model)
    return LoadedPotential(potential, str(model), "destination" if restore else "source")
