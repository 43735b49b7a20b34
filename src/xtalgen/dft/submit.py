"""The ``local`` and ``fireworks`` backends: run or queue the prepared flows, each candidate once.

Both read the flows ``prepare`` wrote, so what runs is exactly what the user inspected. ``local`` runs
each flow with jobflow's ``run_locally`` in its own folder; ``fireworks`` turns it into a Workflow on
a LaunchPad for ``rlaunch``/``qlaunch`` workers. A rerun skips every candidate the ledger (or, for
FireWorks, the LaunchPad itself) already holds under the same maker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from monty.json import MontyDecoder

from xtalgen.dft.state import Ledger, StateConfig, job_store, launchpad
from xtalgen.errors import InputError
from xtalgen.io import RECORD_TEXT, inside

if TYPE_CHECKING:
    from jobflow import Flow

__all__ = ["load_flows", "submit"]

log = logging.getLogger(__name__)


def load_flows(prepared: Path) -> list[tuple[dict[str, Any], Flow]]:
    """Manifest rows and flows written by :func:`xtalgen.dft.prepare.prepare_flows`."""
    manifest = prepared / "manifest.csv"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} does not exist: run `xtalgen dft prepare` first")
    rows = pd.read_csv(manifest, keep_default_na=False, dtype=RECORD_TEXT).to_dict("records")
    flows = []
    for row in rows:
        if row.get("status", "prepared") != "prepared":
            log.warning(
                "candidate %s was not prepared (%s); not submitted", row["candidate_id"], row["reason"]
            )
            continue
        if not row.get("folder"):
            raise InputError(f"{manifest}: no folder column (an older manifest); rerun `xtalgen dft prepare`")
        path = inside(prepared, str(row["folder"])) / "flow.json"
        try:
            flow = MontyDecoder().process_decoded(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"{path}: not a readable flow ({err}); rerun `xtalgen dft prepare`") from err
        flows.append((row, flow))
    return flows


def _run_local(row: dict[str, Any], flow: Flow, state: Path, ledger: Ledger, store: Any) -> None:
    from jobflow import run_locally  # noqa: PLC0415

    folder = inside(state / "runs", str(row["folder"]))
    folder.mkdir(parents=True, exist_ok=True)
    ledger.record(
        row["key"],
        state="running",
        host=socket.gethostname(),
        pid=os.getpid(),
        started=time.time(),
        workdir=str(folder),
    )
    here = Path.cwd()
    try:
        run_locally(flow, store=store, create_folders=True, root_dir=folder, raise_immediately=True)
    except Exception as err:  # atomate2 and custodian raise many types; all mean "failed"
        message = [line.strip() for line in str(err).splitlines() if line.strip()]
        ledger.record(
            row["key"],
            state="failed",
            error=f"{type(err).__name__}: {message[0] if message else ''}",
            finished=time.time(),
        )
        log.warning("%s failed: %s", row["candidate_id"], err)
    else:
        ledger.record(row["key"], state="completed", error="", finished=time.time())
    finally:
        os.chdir(here)


def _already_on(pad: Any, key: str) -> list[int]:
    return [doc["fw_id"] for doc in pad.fireworks.find({"spec.xtalgen.key": key}, {"fw_id": 1})]


def submit(prepared: Path, state: Path, config: StateConfig) -> pd.DataFrame:
    """Submit every prepared flow not submitted before; a table of what was done to each."""
    config.save(state)
    ledger = Ledger.open(state)
    store = job_store(state, config.store)
    pad = launchpad(state, config.launchpad) if config.backend == "fireworks" else None
    rows = []
    for row, flow in load_flows(prepared):
        key = row["key"]
        known = key in ledger.entries and not ledger.interrupted(key)
        if pad is not None:
            on_pad = _already_on(pad, key)
            if on_pad and not known:
                ledger.record(key, state="submitted", fw_ids=on_pad)
            known = known or bool(on_pad)
        if known:
            rows.append({"candidate_id": row["candidate_id"], "key": key, "action": "already submitted"})
            continue
        ledger.record(
            key,
            candidate_id=str(row["candidate_id"]),
            structure_sha=str(row["structure_sha"]),
            task=str(row.get("task", "")),
            source_id=str(row.get("source_id", "")),
            maker=row["maker"],
            static_job=row["static_job"],
            backend=config.backend,
            submitted=time.time(),
        )
        if pad is None:
            _run_local(row, flow, state, ledger, store)
            action = f"ran locally: {ledger.entries[key]['state']}"
        else:
            from jobflow.managers.fireworks import flow_to_workflow  # noqa: PLC0415

            workflow = flow_to_workflow(flow, store=store)
            workflow.metadata["xtalgen"] = flow.metadata.get("xtalgen", {})
            mapping = pad.add_wf(workflow)
            ledger.record(key, state="submitted", fw_ids=sorted(mapping.values()))
            action = f"added to the LaunchPad as {len(mapping)} fireworks"
        rows.append({"candidate_id": row["candidate_id"], "key": key, "action": action})
    return pd.DataFrame(rows, columns=["candidate_id", "key", "action"])
