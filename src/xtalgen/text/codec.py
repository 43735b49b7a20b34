"""The crystal string: the paper's plain-text format for a periodic structure.

```
3.9 3.9 3.9        lengths (Å), one decimal
90 90 90           angles (degrees), whole numbers
Sr                 element of site 1
0.00 0.00 0.00     fractional coordinates of site 1, two decimals, wrapped into [0, 1)
...
```

Angles are rounded, not truncated as the paper's code does with ``int()``: truncation biases every
angle down by half a degree on average.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Element, Lattice, Structure

from xtalgen.errors import InputError, XtalgenError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

__all__ = [
    "ANGLE_DECIMALS",
    "COORD_DECIMALS",
    "LENGTH_DECIMALS",
    "MASK_TOKEN",
    "CrystalParseError",
    "decode",
    "element_lines",
    "encode",
]

LENGTH_DECIMALS = 1
ANGLE_DECIMALS = 0
COORD_DECIMALS = 2
MASK_TOKEN = "[MASK]"


class CrystalParseError(XtalgenError, ValueError):
    """A text is not a valid crystal string; the message says which line and why."""


def _wrapped_coords(frac: np.ndarray) -> np.ndarray:
    """Round first, then wrap, so that 0.996 becomes 0.00 and never 1.00."""
    coords = np.round(np.mod(frac, 1.0), COORD_DECIMALS) % 1.0
    coords[coords == 0.0] = 0.0  # no "-0.00"
    return coords


def encode(structure: Structure, translation: ArrayLike | None = None) -> str:
    """Write a structure as a crystal string, keeping its site order.

    Parameters
    ----------
    structure
        An ordered structure (one element per site).
    translation
        A fractional vector added to every site before wrapping: the paper's augmentation.
    """
    if not structure.is_ordered:
        raise InputError("a crystal string needs an ordered structure (no partial occupancy)")
    frac = np.asarray(structure.frac_coords, dtype=float)
    if translation is not None:
        frac = frac + np.asarray(translation, dtype=float).reshape(1, 3)
    coords = _wrapped_coords(frac)
    a, b, c = structure.lattice.abc
    alpha, beta, gamma = structure.lattice.angles
    lines = [
        f"{a:.{LENGTH_DECIMALS}f} {b:.{LENGTH_DECIMALS}f} {c:.{LENGTH_DECIMALS}f}",
        f"{round(alpha):d} {round(beta):d} {round(gamma):d}",
    ]
    for site, xyz in zip(structure, coords, strict=True):
        lines.append(site.specie.symbol)
        lines.append(" ".join(f"{x:.{COORD_DECIMALS}f}" for x in xyz))
    return "\n".join(lines)


def element_lines(n_sites: int) -> range:
    """Indices of the element lines of a crystal string with ``n_sites`` sites."""
    return range(2, 2 + 2 * n_sites, 2)


def _numbers(line: str, lineno: int, what: str) -> tuple[float, float, float]:
    tokens = line.split()
    if len(tokens) != 3:
        raise CrystalParseError(f"line {lineno} ({what}): expected 3 numbers, got {line!r}")
    values = []
    for token in tokens:
        try:
            value = float(token)
        except ValueError:
            raise CrystalParseError(f"line {lineno} ({what}): {token!r} is not a number") from None
        if not math.isfinite(value):
            raise CrystalParseError(f"line {lineno} ({what}): {token!r} is not a finite number")
        values.append(value)
    return values[0], values[1], values[2]


def _check_angles(alpha: float, beta: float, gamma: float) -> None:
    """Reject angles that span no volume (the metric tensor must be positive definite)."""
    for name, angle in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if not 0.0 < angle < 180.0:
            raise CrystalParseError(f"line 2 (angles): {name} = {angle:g} is not in (0, 180)")
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    if 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg <= 1e-8:
        raise CrystalParseError(
            f"line 2 (angles): {alpha:g} {beta:g} {gamma:g} give no valid cell (zero volume)"
        )


def _element(line: str, lineno: int) -> str:
    symbol = line.strip()
    if not Element.is_valid_symbol(symbol):
        raise CrystalParseError(f"line {lineno}: {symbol!r} is not an element symbol")
    return symbol


def decode(text: str, max_sites: int | None = None) -> Structure:
    """Read a crystal string back into a structure.

    Blank lines and surrounding whitespace are ignored. Every other deviation from the format raises
    :class:`CrystalParseError`, the one exception a caller handles for bad model output.

    Parameters
    ----------
    text
        The crystal string.
    max_sites
        Reject strings with more sites than this (``None``: no limit).
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 2:
        raise CrystalParseError(
            f"expected a lengths line, an angles line, then element/coordinate pairs; got {len(lines)} lines"
        )
    if len(lines) == 2:
        raise CrystalParseError("no sites: the text ends after the lattice lines")
    if len(lines) % 2:
        raise CrystalParseError(
            f"wrong number of lines ({len(lines)}): after the 2 lattice lines, every site needs "
            "an element line and a coordinate line"
        )
    n_sites = (len(lines) - 2) // 2
    if max_sites is not None and n_sites > max_sites:
        raise CrystalParseError(f"{n_sites} sites is more than the maximum of {max_sites}")

    lengths = _numbers(lines[0], 1, "lengths")
    for name, length in zip("abc", lengths, strict=True):
        if length <= 0.0:
            raise CrystalParseError(f"line 1 (lengths): {name} = {length:g} is not positive")
    angles = _numbers(lines[1], 2, "angles")
    _check_angles(*angles)

    species: list[str] = []
    coords: list[Sequence[float]] = []
    for i in element_lines(n_sites):
        species.append(_element(lines[i], i + 1))
        coords.append(_numbers(lines[i + 1], i + 2, "coordinates"))

    lattice = Lattice.from_parameters(*lengths, *angles)
    return Structure(lattice, species, np.mod(np.asarray(coords), 1.0))
