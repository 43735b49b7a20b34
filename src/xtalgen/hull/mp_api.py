"""Hull entries from the Materials Project API, cached per chemical system.

Only GGA/GGA+U entries are asked for (``thermo_types: GGA_GGA+U``), already processed by MP's
MaterialsProject2020Compatibility, so they share an energy scale with the corrected M3GNet entries.
A chemical system already in the cache is never asked for again, so a rerun works offline.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import zlib
from typing import TYPE_CHECKING, Any, Protocol

from monty.json import MontyDecoder, MontyEncoder

from xtalgen.dataset.sources import offline
from xtalgen.errors import in_terms
from xtalgen.hull.reference import HullError
from xtalgen.io import atomic_output

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

    from pymatgen.core import Composition
    from pymatgen.entries.computed_entries import ComputedEntry

__all__ = ["MP_CRITERIA", "EntrySource", "maximal_chemsys", "mp_api_entries"]

log = logging.getLogger(__name__)

MP_CRITERIA: dict[str, Any] = {"thermo_types": ["GGA_GGA+U"]}


class EntrySource(Protocol):
    """The part of ``mp_api.client.MPRester`` this module uses."""

    def get_entries_in_chemsys(
        self, elements: list[str], *, additional_criteria: dict[str, Any]
    ) -> list[ComputedEntry]:
        """Entries of the chemical system of ``elements`` and all of its subsystems."""
        ...


def maximal_chemsys(compositions: Iterable[Composition]) -> list[str]:
    """The chemical systems to ask for: one query covers all of its subsystems."""
    systems = {frozenset(el.symbol for el in c.elements) for c in compositions if len(c.elements)}
    kept = [s for s in systems if not any(s < other for other in systems)]
    return sorted("-".join(sorted(s)) for s in kept)


def _default_client() -> EntrySource:
    if offline():
        raise HullError(
            in_terms("hull.reference mp_api", "--mp-api")
            + ": offline (XTALGEN_OFFLINE or HF_HUB_OFFLINE is set) and a chemical system is not in the "
            "cache; "
            + in_terms("use hull.reference: dataset or entries instead", "use --dataset or --entries instead")
        )
    key = os.environ.get("MP_API_KEY")
    if not key:
        raise HullError(
            in_terms("hull.reference mp_api", "--mp-api")
            + " needs a Materials Project API key in the MP_API_KEY environment "
            "variable (https://next-gen.materialsproject.org/api)"
        )
    from mp_api.client import MPRester  # noqa: PLC0415 - only this reference needs the client

    return MPRester(key, mute_progress_bars=True)


def _load(path: Path) -> list[ComputedEntry]:
    with gzip.open(path, "rt") as handle:
        return json.load(handle, cls=MontyDecoder)


def _load_cached(path: Path) -> list[ComputedEntry] | None:
    """A cached answer, or None when there is none or it does not check out.

    gzip's CRC and length, then JSON: a torn entry is fetched again, never trusted.
    """
    if not path.is_file():
        return None
    try:
        found = _load(path)
    except (OSError, EOFError, ValueError, zlib.error) as err:
        log.warning("%s: cached MP answer unreadable (%s); fetching it again", path, err)
        return None
    if not isinstance(found, list):
        log.warning("%s: cached MP answer is not a list of entries; fetching it again", path)
        return None
    return found


def mp_api_entries(
    compositions: Iterable[Composition],
    cache_dir: Path,
    client_factory: Callable[[], EntrySource] = _default_client,
) -> list[ComputedEntry]:
    """Every MP entry in the chemical systems of ``compositions``, each system fetched once."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    client: EntrySource | None = None
    entries: dict[str, ComputedEntry] = {}
    for chemsys in maximal_chemsys(compositions):
        cached = cache_dir / f"{chemsys}.json.gz"
        found = _load_cached(cached)
        if found is None:
            client = client or client_factory()
            try:
                found = client.get_entries_in_chemsys(chemsys.split("-"), additional_criteria=MP_CRITERIA)
            except Exception as err:  # the client raises its own types for network and key errors
                raise HullError(f"the MP API failed for {chemsys}: {err}") from err
            with atomic_output(cached) as tmp, gzip.open(tmp, "wt") as handle:
                json.dump(found, handle, cls=MontyEncoder)
        for entry in found:
            entries[str(entry.entry_id)] = entry
    if not entries:
        raise HullError("the MP API returned no entries for the candidates' chemical systems")
    return list(entries.values())
