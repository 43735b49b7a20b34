"""Every figure of the report, drawn from the tables the stages write; the stages draw nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pandas as pd

__all__ = [
    "finetuning_loss_figure",
    "gate_figure",
    "plot_dft_ehull",
    "plot_ehull",
    "plot_gate_errors",
    "plot_losses",
    "plot_throughput",
    "plot_validity",
    "pretraining_loss_figure",
]


def _pyplot() -> Any:
    """Matplotlib's pyplot on the file backend: jobs on cluster nodes have no display."""
    import matplotlib as mpl  # noqa: PLC0415

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def plot_losses(table: pd.DataFrame, path: Path, title: str) -> None:
    """Training and validation loss per optimizer step (the trainer's ``training_log.csv``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    train_rows = table.dropna(subset=["loss"])
    val_rows = table.dropna(subset=["val_loss"])
    ax.plot(train_rows["step"], train_rows["loss"], label="train")
    if len(val_rows):
        ax.plot(val_rows["step"], val_rows["val_loss"], "o-", label="validation")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def plot_validity(reasons: dict[str, int], n_valid: int, path: Path, what: str = "samples") -> None:
    """Bar chart of valid samples and of each reason for an invalid one; ``what`` names the samples."""
    import textwrap  # noqa: PLC0415

    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    plt = _pyplot()
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


def plot_throughput(table: pd.DataFrame, path: Path) -> None:
    """Generated and parsed samples per second of every sampling job, side by side."""
    plt = _pyplot()
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


def plot_gate_errors(errors: pd.DataFrame, path: Path, title: str) -> None:
    """Parity plot of the potential's against DFT formation energies (the accuracy gate's table)."""
    import numpy as np  # noqa: PLC0415

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(errors["e_form_dft"], errors["e_form_model"], s=14)
    low = float(min(errors["e_form_dft"].min(), errors["e_form_model"].min())) - 0.2
    high = float(max(errors["e_form_dft"].max(), errors["e_form_model"].max())) + 0.2
    ax.plot([low, high], [low, high], color="grey", lw=1)
    ax.set_xlabel("DFT formation energy (eV/atom)")
    ax.set_ylabel("model formation energy (eV/atom)")
    median = float(np.median(np.abs(errors["error"])))
    ax.set_title(f"{title}\nmedian |error| {median:.3f} eV/atom (n={len(errors)})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def plot_ehull(results: pd.DataFrame, ehull_max: float, path: Path) -> None:
    """Histogram of the prescreen's rated E_hull values, trusted and flagged stacked."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    from xtalgen.hull.flags import is_flagged  # noqa: PLC0415

    plt = _pyplot()
    rated = results[results["status"] == "ok"]
    flagged = is_flagged(rated)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    values = rated["e_above_hull"].astype(float).clip(-1.0, 1.0)
    if len(values):
        bins = [x / 20 for x in range(-20, 21)]
        ax.hist(
            [values[~flagged], values[flagged]],
            bins=bins,
            stacked=True,
            color=["tab:blue", "tab:orange"],
            label=[f"trusted ({int((~flagged).sum())})", f"flagged ({int(flagged.sum())})"],
        )
    ax.axvline(ehull_max, color="tab:red", linestyle="--", label=f"metastable below {ehull_max:g}")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # the axis counts structures
    ax.set_xlabel("M3GNet E_hull (eV/atom, clipped to [-1, 1])")
    ax.set_ylabel("structures")
    counts = rated.loc[flagged, "flag"].value_counts()
    detail = ", ".join(f"{n} {name}" for name, n in counts.items()) or "none flagged"
    ax.set_title(f"{len(rated)} rated structures ({detail})", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_dft_ehull(collected: pd.DataFrame, path: Path, ehull_max: float = 0.1) -> None:
    """Histogram of E_hull^DFT of the finished calculations (``dft collect``'s table)."""
    from xtalgen.hull.rates import STABLE_EHULL  # noqa: PLC0415

    plt = _pyplot()
    values = collected["e_above_hull_dft"].dropna().astype(float) if len(collected) else collected
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if len(values):
        ax.hist(values.clip(upper=1.0), bins=30, color="tab:green")
    else:
        ax.text(0.5, 0.5, "no finished DFT calculation yet", ha="center", transform=ax.transAxes)
    ax.axvline(STABLE_EHULL, color="black", linestyle="-", label=f"stable (< {STABLE_EHULL:g})")
    ax.axvline(ehull_max, color="tab:red", linestyle="--", label=f"metastable (< {ehull_max:g})")
    ax.set_xlabel("DFT E_hull (eV/atom, clipped at 1)")
    ax.set_ylabel("candidates")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def pretraining_loss_figure(out_dir: Path, parameters: int) -> Path:
    """``out_dir/loss.png`` from the tiny base's ``out_dir/training_log.csv``."""
    title = f"tiny LLaMA pretraining ({parameters / 1e6:.2f} M parameters)"
    return _loss_figure(out_dir, title)


def finetuning_loss_figure(out_dir: Path) -> Path:
    """``out_dir/loss.png`` from LoRA's ``training_log.csv`` and the run record in its adapter."""
    import json  # noqa: PLC0415

    run = json.loads((out_dir / "adapter" / "xtalgen_run.json").read_text())
    counts = run.get("parameters", {})
    trained = f": {counts['trainable']:,} of {counts['total']:,} parameters trained" if counts else ""
    return _loss_figure(out_dir, f"LoRA r={run['lora']['r']}{trained}")


def _loss_figure(out_dir: Path, title: str) -> Path:
    import pandas as pd  # noqa: PLC0415

    from xtalgen.io import atomic_output  # noqa: PLC0415

    path = out_dir / "loss.png"
    with atomic_output(path) as tmp:
        plot_losses(pd.read_csv(out_dir / "training_log.csv"), tmp, title)
    return path


def gate_figure(path: Path | None) -> Callable[[pd.DataFrame, str], None] | None:
    """A drawer of the accuracy gate's parity plot into ``path`` (None: no figure), for ``on_errors``."""
    if path is None:
        return None

    def draw(errors: pd.DataFrame, title: str) -> None:
        from xtalgen.io import atomic_output  # noqa: PLC0415

        with atomic_output(path) as tmp:
            plot_gate_errors(errors, tmp, title)

    return draw
