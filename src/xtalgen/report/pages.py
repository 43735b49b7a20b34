"""The report's pages and the landing page's headline, from the files the stages wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from xtalgen.report.html import html_page, html_table

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["candidates_page", "conditional_page", "headline_rst", "metrics_page", "report_pages"]


def metrics_page(metrics: dict[str, Any], paper: pd.DataFrame) -> str:
    """The run beside the paper's Table 1, then every task's metrics with what each number counts."""
    keys = [
        k for k, v in metrics.get("by_task", {}).get("unconditional", {}).items() if not isinstance(v, dict)
    ]
    by_task = metrics.get("by_task", {})
    per_task = pd.DataFrame(
        {"metric": keys, **{task: [m.get(k) for k in keys] for task, m in by_task.items()}}
    )
    definitions = metrics.get("definitions", {})
    per_task["what it counts"] = [definitions.get(k, "") for k in keys]
    protocol = paper["metric"].astype(str).str.startswith("protocol: ")
    values = paper[~protocol].copy()
    values["this run"] = pd.to_numeric(values["this run"], errors="coerce")
    paper_protocol = next((c for c in paper.columns if c.startswith("paper: LLaMA")), None)
    steps = pd.DataFrame(
        {
            "protocol": paper.loc[protocol, "metric"].str.removeprefix("protocol: "),
            "this run": paper.loc[protocol, "this run"],
            "the paper": paper.loc[protocol, paper_protocol] if paper_protocol else "",
        }
    )
    title = "This run's unconditional metrics beside the paper's Table 1 (Gruver et al., ICLR 2024)"
    body = [
        html_table(values, title),
        html_table(steps, "Where this run's protocol differs from the paper's"),
        html_table(per_task, f"Metrics per task; novelty against {metrics.get('novelty_reference', 'n/a')}"),
    ]
    if metrics.get("ipt"):
        ipt = pd.DataFrame([metrics["ipt"]])
        body.append(html_table(ipt, "IPT, the increase in perplexity under translation"))
    return html_page("Metrics", body)


def candidates_page(metastable: pd.DataFrame, flagged: pd.DataFrame, top: int = 50) -> str:
    """The candidates with E_hull and flags, each CIF unfolding in place."""
    import html  # noqa: PLC0415

    body = []
    for table, caption in ((metastable, "Metastable candidates, most stable first"), (flagged, "Flagged")):
        shown = table.head(top).copy()
        columns = [
            c for c in ("id", "formula", "e_above_hull", "e_form_per_atom", "flag", "reason") if c in shown
        ]
        view = shown[columns].copy()
        if "cif_relaxed" in shown:
            view["CIF (relaxed)"] = [
                f"<details><summary>CIF</summary><pre>{html.escape(str(c))}</pre></details>"
                for c in shown["cif_relaxed"]
            ]
        note = f" ({len(table)} in all, first {top} shown)" if len(table) > top else f" ({len(table)})"
        body.append(html_table(view, caption + note, raw=("CIF (relaxed)",)))
    return html_page("Candidates", body)


def conditional_page(outcomes: pd.DataFrame, top: int = 200) -> str:
    """Each conditional request beside what its sample wrote, so a rate can be checked row by row."""
    names = {
        "id": "sample",
        "formula": "formula asked",
        "formula_written": "formula written",
        "formula_met": "formula met",
        "elements_met": "elements met",
        "spacegroup": "space group asked",
        "spacegroup_found": "space group found (symprec 0.2)",
        "spacegroup_met": "space group met",
        "e_above_hull": "E_hull asked (eV/atom)",
        "e_above_hull_m3gnet": "M3GNet E_hull (eV/atom)",
        "e_above_hull_met": "E_hull met",
    }
    met = outcomes["formula_met"].dropna() if "formula_met" in outcomes else pd.Series(dtype=bool)
    is_hit = met.astype(str).str.lower().eq("true").reindex(outcomes.index, fill_value=False)
    hits = int(is_hit.sum())
    # Hits first, so that a rare one is on the page when only the first ``top`` rows are shown.
    ordered = pd.concat([outcomes[is_hit], outcomes[~is_hit]])
    view = ordered[[c for c in names if c in ordered]].head(top).rename(columns=names)
    view = view.fillna("")
    shown = f", first {top} shown, formulas met first" if len(outcomes) > top else ""
    caption = (
        f"Conditional samples ({len(outcomes)}{shown}): formula met in {hits} of {len(met)}. "
        "A sample that never parsed wrote no formula; E_hull is blank where the sample was not rated."
    )
    return html_page("Conditional samples", [html_table(view, caption)])


def _share(metrics: dict[str, Any], key: str, count: str = "n_samples") -> str:
    value, n = metrics.get(key), metrics.get(count)
    return "n/a" if value is None or not n else f"{value:.2f} of {n}"


def _hits(metrics: dict[str, Any], key: str, count: str) -> str:
    """A count, its rate and the rate's 95% Wilson interval.

    "0.00 of 512" hid 2 hits, and a rate without its interval reads 1 in 512 as a measurement.
    """
    from scipy.stats import binomtest  # noqa: PLC0415

    value, n = metrics.get(key), metrics.get(count)
    if value is None or not n:
        return "n/a"
    hits = round(value * n)
    interval = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (
        f"{hits} of {n} ({100 * value:.1f}%; 95% Wilson interval "
        f"{100 * interval.low:.1f} to {100 * interval.high:.1f}%)"
    )


def _loss_change(lora_log: pd.DataFrame | None) -> str:
    """Validation loss before and after LoRA, from the fine-tuning log (step 0 is the base)."""
    if lora_log is None or "val_loss" not in lora_log or lora_log["val_loss"].notna().sum() < 2:
        return "no validation loss was logged"
    rows = lora_log.dropna(subset=["val_loss"])
    before, after = rows.iloc[0], rows.iloc[-1]
    verb = "lowered" if after["val_loss"] < before["val_loss"] else "did not lower"
    return (
        f"LoRA {verb} the validation loss from {before['val_loss']:.3f} (step {int(before['step'])}) "
        f"to {after['val_loss']:.3f} (step {int(after['step'])})"
    )


def _failed_words(metrics: dict[str, Any]) -> str:
    """The failed relaxations beside the rated count: they are not metastable, and not left out."""
    failed, skipped = metrics.get("n_relax_failed", 0), metrics.get("n_prefiltered", 0)
    if not failed and not skipped:
        return ""
    return (
        f" ({failed} more valid samples failed to relax and {skipped} were skipped by the pre-filter: "
        "not metastable)"
    )


def _decoding_words(decoding: Mapping[str, Any] | None) -> str:
    """The decoding the samples were drawn with, as ", T 1.0, top_p 1.0, element lines at T 0.5"."""
    if not decoding:
        return ""
    words = f", T {decoding['temperature']}, top_p {decoding['top_p']}"
    element = decoding.get("element_temperature")
    if element is not None and element != decoding["temperature"]:
        words += f", element lines at T {element}"
    return words


def headline_rst(
    metrics: dict[str, Any],
    lora_log: pd.DataFrame | None,
    *,
    formula_elements_held: bool = False,
    decoding: Mapping[str, Any] | None = None,
    hull: str | None = None,
) -> str:
    """The run's headline numbers as reStructuredText bullets, for the report's landing page.

    Every number names what it counts and over which samples, and under which constraint.
    """
    by_task = metrics.get("by_task", {})
    unconditional = by_task.get("unconditional", metrics)
    lines = [
        f"- Unconditional ({unconditional.get('n_samples', 0)} samples{_decoding_words(decoding)}): "
        "structural validity "
        f"{_share(unconditional, 'structural_validity')} and compositional validity "
        f"{_share(unconditional, 'compositional_validity')}; median "
        f"{unconditional.get('median_elements')} elements per parsed sample (MP-20: 3); M3GNet "
        f"metastable (E_hull < {metrics.get('ehull_max', 0.1):g} eV/atom) "
        f"{unconditional.get('m3gnet_metastable', 0)} of "
        f"{unconditional.get('n_rated', 0)} rated samples{_failed_words(unconditional)}"
        + (f", on the {hull}." if hull else "."),
    ]
    conditional = by_task.get("conditional")
    if conditional:
        lines.append(
            f"- Conditional: formula met in {_hits(conditional, 'formula_accuracy', 'formula_samples')} "
            "samples; the formula's elements, whatever their counts, in "
            f"{_hits(conditional, 'elements_accuracy', 'formula_samples')}; space group in "
            f"{_hits(conditional, 'spacegroup_accuracy', 'spacegroup_samples')}"
            + (
                " (each sample held to its formula's elements by the constraint; the counts, cell and "
                "sites are the model's)."
                if formula_elements_held
                else " (any element allowed, as the paper samples)."
            )
        )
    infill = by_task.get("infill")
    if infill:
        lines.append(
            f"- Infill: {_share(infill, 'infill_success')} samples gave a valid new structure "
            f"(identity answers excluded); {infill.get('m3gnet_metastable', 0)} of "
            f"{infill.get('n_rated', 0)} rated are M3GNet-metastable."
        )
    lines.append(f"- Fine-tuning: {_loss_change(lora_log)}.")
    if metrics.get("dft_completed"):
        lines.append(
            f"- DFT: {metrics['dft_completed']} calculations finished, {metrics.get('dft_stable', 0)} "
            "below the hull."
        )
    return "\n".join(lines) + "\n"


def report_pages(
    *,
    metrics: Path,
    paper: Path,
    metastable: Path,
    flagged: Path,
    dft_manifest: Path,
    costs: Path,
    run_manifest: Path,
    lora_log: Path | None = None,
    conditional: Path | None = None,
    out: dict[str, Path],
    formula_elements_held: bool = False,
    decoding: Mapping[str, Any] | None = None,
) -> None:
    """The report's inline tables and the landing page's headline numbers.

    Tables: metrics, candidates, DFT manifest, job costs, run manifest, and with ``conditional``
    (the evaluation's per-sample CSV) the conditional samples; ``out["headline"]`` is
    reStructuredText for report/workflow.rst.
    """
    import json  # noqa: PLC0415

    from xtalgen.io import atomic_output  # noqa: PLC0415

    def read(path: Path) -> pd.DataFrame:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])

    run = json.loads(run_manifest.read_text())
    flat = pd.json_normalize(run, sep=".").T.reset_index()
    flat.columns = ["key", "value"]
    pages = {
        "metrics": metrics_page(json.loads(metrics.read_text()), read(paper)),
        "candidates": candidates_page(read(metastable), read(flagged)),
        "dft": html_page(
            "DFT manifest", [html_table(read(dft_manifest), "The atomate2 flow of each candidate")]
        ),
        "costs": html_page(
            "Job costs", [html_table(read(costs), "Wall time, peak memory and CPU time per job")]
        ),
        "manifest": html_page(
            "Run manifest", [html_table(flat, "Configuration, code version, packages, inputs")]
        ),
    }
    if conditional is not None:
        pages["conditional"] = conditional_page(read(conditional))
    log = read(lora_log) if lora_log is not None and lora_log.is_file() else None
    from xtalgen.hull.reference import hull_label  # noqa: PLC0415

    pages["headline"] = headline_rst(
        json.loads(metrics.read_text()),
        log,
        formula_elements_held=formula_elements_held,
        decoding=decoding,
        hull=hull_label(run["hull"]) if run.get("hull") else None,
    )
    for name, text in pages.items():
        with atomic_output(out[name]) as tmp:
            tmp.write_text(text)
