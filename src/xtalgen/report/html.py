"""Plain HTML tables and pages, which Snakemake's report shows inline."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["html_page", "html_table"]

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
