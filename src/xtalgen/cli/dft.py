"""The DFT commands: ``dft prepare``, ``dft submit``, ``dft status``, ``dft collect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from xtalgen.cli.options import add_command, add_group, add_setting
from xtalgen.dft.flows import DftSettings
from xtalgen.errors import InputError
from xtalgen.prescreen.settings import SelectionSettings

if TYPE_CHECKING:
    import argparse

__all__ = ["add_dft"]


def add_dft(commands: argparse._SubParsersAction) -> None:
    """atomate2 DFT verification."""
    verbs = add_group(commands, "dft", "atomate2 DFT verification: prepare, submit, status, collect")
    prepare = add_command(
        verbs,
        "prepare",
        _run_dft_prepare,
        "write each candidate's atomate2 flow (JSON) and first-job VASP inputs",
        "Writes OUT/<id>/flow.json, OUT/<id>/inputs/{INCAR,KPOINTS,POSCAR,POTCAR or POTCAR.spec} "
        "and OUT/manifest.csv. Needs no VASP.",
    )
    prepare.add_argument(
        "--structures",
        type=Path,
        required=True,
        help="CSV with cif (or the prescreen's cif_relaxed), a CIF folder, or extxyz",
    )
    prepare.add_argument("--out", type=Path, required=True, help="folder for flows and inputs")
    add_setting(prepare, "--maker", DftSettings, "maker")
    add_setting(
        prepare,
        "--incar",
        DftSettings,
        "incar_overrides",
        action="append",
        default=[],
        metavar="TAG=VALUE",
        dest="incar",
        help="repeatable",
    )
    add_setting(prepare, "--vasp-cmd", DftSettings, "vasp_cmd")
    add_setting(prepare, "--potcar-dir", DftSettings, "potcar_dir")
    add_setting(prepare, "--max-candidates", DftSettings, "max_candidates", type=int)
    add_setting(prepare, "--include-controls", DftSettings, "include_controls", action="store_true")

    submit = add_command(
        verbs,
        "submit",
        _run_dft_submit,
        "run the prepared flows locally or add them to a FireWorks LaunchPad, each once",
    )
    submit.add_argument("--prepared", type=Path, required=True, help="folder of `xtalgen dft prepare`")
    submit.add_argument(
        "--state", type=Path, required=True, help="state folder: ledger, job store, LaunchPad, run folders"
    )
    submit.add_argument("--backend", choices=("local", "fireworks"), required=True, help="where flows run")
    submit.add_argument(
        "--store",
        help="MongoDB URI of the jobflow store "
        "(default: $XTALGEN_JOBSTORE_URI, else a MontyStore in --state)",
    )
    submit.add_argument("--launchpad", help="FireWorks launchpad YAML (default: a mongomock file in --state)")

    status = add_command(
        verbs, "status", _run_dft_status, "pending, running, failed, completed per candidate"
    )
    status.add_argument("--state", type=Path, required=True, help="state folder of `xtalgen dft submit`")
    status.add_argument("--out", type=Path, help="also write the table as CSV (default: print only)")

    collect = add_command(
        verbs,
        "collect",
        _run_dft_collect,
        "MP2020-corrected entries and E_hull^DFT of every finished candidate",
    )
    collect.add_argument("--state", type=Path, required=True, help="state folder of `xtalgen dft submit`")
    collect.add_argument("--hull", type=Path, required=True, help="file of `xtalgen hull build`")
    collect.add_argument("--out", type=Path, required=True, help="table CSV")
    collect.add_argument("--summary", type=Path, help="counts and rates as JSON (default: print only)")
    collect.add_argument(
        "--generated",
        type=int,
        help="number of structures generated, the DFT stable rate's denominator (default: no rate)",
    )
    collect.add_argument(
        "--manifest",
        type=Path,
        help="manifest.csv of `xtalgen dft prepare`: list and count only its candidates "
        "(default: every submission in --state)",
    )
    add_setting(collect, "--ehull-max", SelectionSettings, "ehull_max", type=float)


def _incar_value(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run_dft_prepare(args: argparse.Namespace) -> int:
    from xtalgen.dft.prepare import prepare_flows, read_candidates, selected  # noqa: PLC0415

    overrides = {}
    for item in args.incar:
        tag, sep, value = item.partition("=")
        if not sep or not tag.strip():
            raise InputError(f"--incar {item!r}: write TAG=VALUE, e.g. NCORE=4")
        overrides[tag.strip().upper()] = _incar_value(value.strip())
    settings = DftSettings(
        maker=args.maker,
        incar_overrides=overrides,
        vasp_cmd=args.vasp_cmd,
        potcar_dir=args.potcar_dir,
        max_candidates=args.max_candidates,
        include_controls=args.include_controls,
    )
    candidates = selected(read_candidates(args.structures), settings)
    table = prepare_flows(candidates, args.out, settings)
    failed = table[table["status"] != "prepared"]
    print(
        f"{len(table) - len(failed)} flows ({settings.maker}), {len(failed)} candidates not prepared "
        f"(reasons in the manifest) -> {args.out}/manifest.csv"
    )
    return 0


def _run_dft_submit(args: argparse.Namespace) -> int:
    from xtalgen.dft.state import StateConfig  # noqa: PLC0415
    from xtalgen.dft.submit import submit  # noqa: PLC0415

    config = StateConfig(args.backend, store=args.store, launchpad=args.launchpad)
    table = submit(args.prepared, args.state, config)
    print(table.to_string(index=False) if len(table) else "nothing prepared")
    return 0


def _run_dft_status(args: argparse.Namespace) -> int:
    from xtalgen.dft.collect import STATES, status_table  # noqa: PLC0415

    table = status_table(args.state)
    if args.out:
        table.to_csv(args.out, index=False)
    print(table.to_string(index=False) if len(table) else "nothing submitted")
    print(", ".join(f"{s} {(table['state'] == s).sum()}" for s in STATES))
    return 0


def _run_dft_collect(args: argparse.Namespace) -> int:
    from xtalgen.dft.collect import collect, summarize, this_run  # noqa: PLC0415
    from xtalgen.hull.reference import load_hull  # noqa: PLC0415

    table = collect(args.state, load_hull(args.hull), ehull_max=args.ehull_max)
    if args.manifest is not None:
        from xtalgen.io import RECORD_TEXT, read_csv  # noqa: PLC0415

        rows = read_csv(args.manifest, "a DFT manifest", keep_default_na=False, dtype=RECORD_TEXT)
        table = this_run(table, rows)
    table.to_csv(args.out, index=False)
    summary = summarize(table, args.generated, ehull_max=args.ehull_max)
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n")
    shown = {k: v for k, v in summary.items() if k not in {"by_task", "definitions"}}
    print(", ".join(f"{k} {v}" for k, v in shown.items()) + f" -> {args.out}")
    return 0
