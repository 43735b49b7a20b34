"""What an auditor needs to trust a run: its configuration, code version, packages and costs."""

from __future__ import annotations

import hashlib
import math
import platform
import subprocess
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "PACKAGES",
    "benchmark_table",
    "export_candidates",
    "input_checksums",
    "manifest",
    "plot_validity",
    "sampling_throughput",
]

PACKAGES = (
    "xtalgen", "torch", "transformers", "peft", "accelerate", "tokenizers", "xgrammar", "pymatgen",
    "matgl", "ase", "matminer", "smact", "mp-api", "atomate2", "jobflow", "fireworks", "maggma",
    "snakemake", "snakemake-executor-plugin-slurm", "numpy", "pandas",
)  # fmt: skip


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return out.stdout.strip()


def manifest(config: dict[str, Any], repo: Path) -> dict[str, Any]:
    """The run's configuration, the workflow's git commit (and whether it had local edits), versions."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": _git(repo, "rev-parse", "HEAD"),
        "git_local_changes": bool(dirty) and not dirty.startswith("unknown"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "config": config,
    }


def input_checksums(paths: list[Path]) -> dict[str, str]:
    """SHA-256 of every input file (each file of a folder), so an auditor can tell data apart."""
    out = {}
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest = hashlib.sha256()
            with file.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
            out[str(file)] = digest.hexdigest()
    return out


def benchmark_table(paths: list[Path], root: Path) -> pd.DataFrame:
    """One row per job from Snakemake's benchmark files: wall time, peak memory, CPU time."""
    rows = []
    for path in sorted(paths):
        table = pd.read_csv(path, sep="\t")
        last = table.iloc[-1]
        rows.append(
            {
                "job": str(path.relative_to(root).with_suffix("")),
                "seconds": round(float(last["s"]), 1),
                "max_rss_mb": round(float(last["max_rss"]), 1) if last["max_rss"] != "-" else None,
                "cpu_seconds": round(float(last["cpu_time"]), 1) if last["cpu_time"] != "-" else None,
            }
        )
    return pd.DataFrame(rows, columns=["job", "seconds", "max_rss_mb", "cpu_seconds"])


def export_candidates(metastable: Path, out_dir: Path, top: int) -> int:
    """The ``top`` most stable candidates as one CIF each, named by id, for download from the report."""
    import re  # noqa: PLC0415

    table = pd.read_csv(metastable, keep_default_na=False).head(top)
    out_dir.mkdir(parents=True, exist_ok=True)
    for row in table.to_dict("records"):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(row["id"]))
        (out_dir / f"{name}.cif").write_text(row["cif_relaxed"])
    return len(table)


def sampling_throughput(shards: list[Path], benchmarks: list[Path], path: Path) -> pd.DataFrame:
    """Samples (and parsed samples) per second of every sampling shard, from its benchmark file."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = []
    for shard, bench in zip(shards, benchmarks, strict=True):
        attempts = pd.read_csv(shard, keep_default_na=False)
        seconds = float(pd.read_csv(bench, sep="\t").iloc[0]["s"])
        parsed = int((attempts["status"] == "ok").sum()) if "status" in attempts else len(attempts)
        rows.append(
            {
                "shard": shard.stem,
                "attempts": len(attempts),
                "parsed": parsed,
                "seconds": seconds,
                "attempts_per_s": len(attempts) / seconds if seconds else None,
                "parsed_per_s": parsed / seconds if seconds else None,
            }
        )
    table = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6.5, 0.6 * len(table) + 1.8))
    rows_at = range(len(table))
    height = 0.38  # the two bars of a shard side by side, so neither hides the other
    ax.barh(
        [y - height / 2 for y in rows_at],
        table["attempts_per_s"],
        height,
        color="tab:gray",
        label="generated",
    )
    ax.barh(
        [y + height / 2 for y in rows_at], table["parsed_per_s"], height, color="tab:blue", label="parsed"
    )
    ax.set_yticks(list(rows_at), table["shard"])
    total = table["parsed"].sum() / table["seconds"].sum() if table["seconds"].sum() else 0.0
    ax.set_xlabel(f"samples per second per job (all shards: {total:.2f} parsed/s per job)")
    ax.set_title(
        f"{len(table)} sampling jobs, {int(table['attempts'].sum())} samples generated, "
        f"{int(table['parsed'].sum())} parsed",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return table


def plot_validity(reasons: dict[str, int], n_valid: int, path: Path, what: str = "samples") -> None:
    """Bar chart of valid samples and of each reason for an invalid one; ``what`` names the samples."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import textwrap  # noqa: PLC0415

    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    labels = ["valid", *(textwrap.fill(r, 44) for r in reasons)]  # wrapped, never cut
    values = [n_valid, *reasons.values()]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig, ax = plt.subplots(figsize=(8, 0.3 * lines + 0.4 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color=["tab:red"] * len(reasons) + ["tab:green"])
    ax.tick_params(axis="y", labelsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # the axis counts samples
    n = n_valid + sum(reasons.values())
    ax.set_xlabel(what)
    ax.set_title(f"Validity of {n} {what}: {n_valid} valid", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


_STYLE = """<style>
body{font-family:system-ui,sans-serif;font-size:13px;margin:8px}
table{border-collapse:collapse;margin:6px 0 14px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}
pre{margin:0;font-size:11px}
</style>"""


def _cell(value: Any) -> str:
    import html  # noqa: PLC0415

    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def html_table(table: pd.DataFrame, caption: str, raw: tuple[str, ...] = ()) -> str:
    """A plain HTML table (escaped, except the ``raw`` columns), readable inside the report."""
    import html  # noqa: PLC0415

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for record in table.to_dict("records"):
        cells = (str(record[c]) if c in raw else _cell(record[c]) for c in table.columns)
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def html_page(title: str, body: list[str]) -> str:
    """A standalone page: the report shows an HTML output inline."""
    import html  # noqa: PLC0415

    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{_STYLE}"
        f"</head><body>{''.join(body)}</body></html>\n"
    )


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
        f"metastable (E_hull < 0.1 eV/atom) {unconditional.get('m3gnet_metastable', 0)} of "
        f"{unconditional.get('n_rated', 0)} rated samples.",
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
    pages["headline"] = headline_rst(
        json.loads(metrics.read_text()), log, formula_elements_held=formula_elements_held, decoding=decoding
    )
    for name, text in pages.items():
        with atomic_output(out[name]) as tmp:
            tmp.write_text(text)
