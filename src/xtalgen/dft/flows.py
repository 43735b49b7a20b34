"""atomate2 flows that verify a candidate with DFT the way the Materials Project computes its hull.

The default maker, ``MPGGADoubleRelaxStaticMaker``, gives energies MaterialsProject2020Compatibility
can correct (PBE POTCARs as MP uses them, ENCUT 520, +U for oxides and fluorides), so E_hull^DFT is
comparable with MP's hull. Every job of a flow carries ``metadata["xtalgen"]`` naming the candidate,
the maker and the run: that is how submissions are deduplicated and results collected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xtalgen.errors import InputError, setting
from xtalgen.setting_fields import described

if TYPE_CHECKING:
    from jobflow import Flow
    from pymatgen.core import Structure

__all__ = [
    "MAKERS",
    "DftSettings",
    "build_flow",
    "first_job",
    "static_job_name",
    "submission_key",
]

# Makers a config may name: MP-compatible GGA(+U) by default, r2SCAN as MP's newer functional.
MAKERS = ("MPGGADoubleRelaxStaticMaker", "MPMetaGGADoubleRelaxStaticMaker")
BACKENDS = ("prepare", "local", "fireworks")


@dataclass(frozen=True)
class DftSettings:
    """The ``dft`` section of the config, as the library needs it."""

    backend: str = described("prepare", "prepare (inputs only), local (jobflow) or fireworks")
    maker: str = described(
        "MPGGADoubleRelaxStaticMaker", "atomate2 maker; MPMetaGGADoubleRelaxStaticMaker for r2SCAN"
    )
    incar_overrides: dict[str, Any] = described(
        help="INCAR override for every job, e.g. NCORE=4 (default: none)", default_factory=dict
    )
    vasp_cmd: str | None = described(
        None, "VASP command of every job (default: atomate2's ATOMATE2_VASP_CMD)"
    )
    potcar_dir: str | None = described(
        None, "POTCAR folder (default: PMG_VASP_PSP_DIR; neither: POTCAR.spec only)"
    )
    max_candidates: int | None = described(None, "the N most stable candidates only (default: all)")
    include_controls: bool = described(
        False, "send control structures (the uniform infill baseline) to DFT too, not only the model's"
    )
    run: str = "xtalgen"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"dft.backend: {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.maker not in MAKERS:
            raise InputError(f"{setting('dft.maker')}: {self.maker!r} is not one of {', '.join(MAKERS)}")
        if not isinstance(self.incar_overrides, dict):
            raise InputError(f"{setting('dft.incar_overrides')}: give a mapping of INCAR tag to value")

    @classmethod
    def from_config(cls, values: dict[str, Any], run: str = "xtalgen") -> DftSettings:
        """Settings from the config's ``dft`` section (unknown keys are the schema's business)."""
        names = ("backend", "maker", "vasp_cmd", "potcar_dir", "max_candidates", "include_controls")
        given = {k: values[k] for k in names if k in values}
        return cls(incar_overrides=dict(values.get("incar_overrides") or {}), run=run, **given)


def submission_key(sha: str, settings: DftSettings) -> str:
    """The identity of a submission: one structure under one maker and INCAR is submitted once.

    The candidate's id is not part of it: ids are renumbered from run to run (``u-3`` of a new
    sample is another structure), and one structure under two ids is one calculation.
    """
    incar = json.dumps(settings.incar_overrides, sort_keys=True, default=str)
    return f"{sha}|{settings.maker}|{hashlib.sha256(incar.encode()).hexdigest()[:8]}"


def _maker(name: str) -> Any:
    from atomate2.vasp.flows import mp  # noqa: PLC0415

    return getattr(mp, name)()


def build_flow(
    structure: Structure, candidate_id: str, settings: DftSettings, *, structure_sha: str = ""
) -> Flow:
    """The DFT flow of one candidate, its jobs tagged with the candidate, maker and run.

    ``structure_sha`` is the candidate's hash as its record carries it (the structure that entered
    the prescreen); the submission key hashes the structure computed here.
    """
    from atomate2.vasp.powerups import update_user_incar_settings  # noqa: PLC0415

    from xtalgen.structures_io import structure_sha as sha_of  # noqa: PLC0415

    flow = _maker(settings.maker).make(structure)
    flow.name = f"{candidate_id} {flow.name}"
    if settings.incar_overrides:
        flow = update_user_incar_settings(flow, settings.incar_overrides)
    if settings.vasp_cmd:
        flow.update_maker_kwargs({"_set": {"run_vasp_kwargs->vasp_cmd": settings.vasp_cmd}}, dict_mod=True)
    computed = sha_of(structure)
    tag = {
        "candidate_id": candidate_id,
        "maker": settings.maker,
        "key": submission_key(computed, settings),
        "run": settings.run,
        "structure_sha": structure_sha or computed,
    }
    flow.update_metadata({"xtalgen": tag})
    flow.metadata["xtalgen"] = tag
    return flow


def _jobs(flow: Flow) -> list[Any]:
    return [job for job, _parents in flow.iterflow()]


def first_job(flow: Flow) -> Any:
    """The job that runs first: its inputs are what a user inspects before spending CPU hours."""
    return _jobs(flow)[0]


def static_job_name(flow: Flow) -> str:
    """The final static calculation, whose energy is the candidate's DFT energy."""
    return _jobs(flow)[-1].name
