"""The reference hull's settings: which source builds it, and where downloads are checked and kept.

Light to import (no pymatgen), so the workflow and the command line's flags read it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from xtalgen.setting_fields import described

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["HullSettings"]

# Matbench Discovery's 2023-02-07 MP files, as its data registry (data-files.yml) publishes them.
MP_ELEMENTAL_REFS = (
    "https://raw.githubusercontent.com/janosh/matbench-discovery/b2e98a0d8618f204168f82a155b8ad8d310ba0a3/"
    "data/mp/2023-02-07-mp-elemental-reference-entries.json.gz"
)
MP_ENTRIES = "https://figshare.com/files/40344436"
MP_ENTRIES_MD5 = "md5:76fc748db6b175bb80de4c276d27c235"


@dataclass(frozen=True)
class HullSettings:
    """The ``hull`` section: the dataset's own phases by default, MP's entries or API on request."""

    reference: Literal["dataset", "entries", "mp_api"] = described(
        "dataset", "dataset, entries (an MP entries file or URL) or mp_api"
    )
    elemental_refs: str | None = described(MP_ELEMENTAL_REFS, "MP elemental reference entries, a path or URL")
    dataset: tuple[str, ...] | None = described(
        None, "dataset folders or CSV files of the dataset hull (default: the run's splits)"
    )
    entries: str | None = described(
        MP_ENTRIES,
        "JSON(.gz) of MP ComputedStructureEntries, a path or a URL downloaded once into the cache; GGA "
        "and GGA+U entries only are kept, MP2020-corrected",
    )
    entries_checksum: str | None = described(
        MP_ENTRIES_MD5, "md5:<hex> or sha256:<hex> a downloaded entries file must match"
    )
    cache_dir: str | None = described(
        None, "cache of downloads and MP API answers (default: $XTALGEN_CACHE, else ~/.cache/xtalgen)"
    )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> HullSettings:
        """Settings from the workflow's ``hull`` section; a key it lacks keeps its default."""
        values = {f.name: section[f.name] for f in fields(cls) if f.name in section}
        if values.get("dataset") is not None:
            values["dataset"] = tuple(values["dataset"])
        return cls(**values)
