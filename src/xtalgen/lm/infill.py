"""The paper's infill protocol: the swap table, and the uniform baseline the model is compared with.

An element's swap table lists every other element with an ionic radius within 0.1 Å of it at an
oxidation state both share (pymatgen's ``Element.ionic_radii``), closest first, as the paper's
``make_swap_table`` builds it. The model's infill answers may be limited to that table (the paper's
constrained infill), and the baseline draws uniformly from it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Element

from xtalgen.structures_io import parse_cif

if TYPE_CHECKING:
    from xtalgen.lm.request import SampleRequest

__all__ = ["BASELINE_TASK", "SWAP_TOLERANCE", "swap_table", "uniform_baseline"]

SWAP_TOLERANCE = 0.1  # Å, the paper's tolerance (strictly below)
BASELINE_TASK = "infill_uniform"


@cache
def _radii() -> dict[str, dict[float, float]]:
    out = {}
    for element in Element:
        radii = element.ionic_radii
        if radii:
            out[element.symbol] = {float(state): float(r) for state, r in radii.items()}
    return out


@cache
def swap_table(symbol: str, tolerance: float = SWAP_TOLERANCE) -> tuple[str, ...]:
    """Every other element within ``tolerance`` Å of ``symbol``'s ionic radius at a shared state.

    Sorted by the smallest difference, each element once; empty for an element without radii.
    """
    radii = _radii()
    own = radii.get(symbol, {})
    best: dict[str, float] = {}
    for other, theirs in radii.items():
        if other == symbol:
            continue
        diffs = [abs(r - theirs[state]) for state, r in own.items() if state in theirs]
        close = [d for d in diffs if d < tolerance]
        if close:
            best[other] = min(close)
    return tuple(sorted(best, key=lambda el: (best[el], el)))


def uniform_baseline(requests: list[SampleRequest], seed: int) -> list[dict[str, Any]]:
    """One uniform swap per infill request, as sample rows (task ``infill_uniform``, id ``b-<id>``).

    The replacement is drawn uniformly from the request's allowed answers, else from the masked
    element's swap table; a request with neither is kept as a rejected row with the reason.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for request in requests:
        if request.task != "infill":
            continue
        row: dict[str, Any] = {
            "id": f"b-{request.id}",
            "attempt": 1,
            "task": BASELINE_TASK,
            "prompt": "",
            "raw_text": "",
            "source_id": request.source_id,
            "masked_element": request.masked_element,
        }
        choices = request.choices or swap_table(request.masked_element or "")
        structure, reason = parse_cif(request.source_cif or "")
        if not choices:
            rows.append(
                row | {"status": "rejected", "reason": f"empty swap table for {request.masked_element}"}
            )
            continue
        if structure is None:
            rows.append(row | {"status": "rejected", "reason": f"source structure unreadable: {reason}"})
            continue
        element = str(rng.choice(list(choices)))
        structure.replace_species({request.masked_element: element})
        rows.append(
            row | {"status": "ok", "reason": "", "cif": structure.to(fmt="cif"), "proposed_element": element}
        )
    return rows
