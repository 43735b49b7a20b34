from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pymatgen.core import Element, Lattice, Structure

from xtalgen.text.codec import CrystalParseError, decode, encode

ELEMENTS = [el.symbol for el in Element if el.Z <= 94]


def assert_equal_within_precision(original: Structure, decoded: Structure) -> None:
    """The format keeps lengths to 0.05 Å, angles to 0.5° and coordinates to 0.005."""
    np.testing.assert_allclose(decoded.lattice.abc, original.lattice.abc, atol=0.05 + 1e-9)
    np.testing.assert_allclose(decoded.lattice.angles, original.lattice.angles, atol=0.5 + 1e-6)
    assert [s.specie.symbol for s in decoded] == [s.specie.symbol for s in original]
    delta = decoded.frac_coords - original.frac_coords
    delta -= np.round(delta)
    assert np.abs(delta).max(initial=0.0) <= 0.005 + 1e-9


def is_valid_cell(angles: tuple[float, float, float]) -> bool:
    ca, cb, cg = (math.cos(math.radians(x)) for x in angles)
    return 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg > 1e-3


@st.composite
def structures(draw: st.DrawFn) -> Structure:
    lengths = draw(st.tuples(*[st.floats(2.0, 30.0)] * 3))
    angles = draw(st.tuples(*[st.floats(60.0, 120.0)] * 3))
    assume(is_valid_cell(angles) and is_valid_cell(tuple(round(a) for a in angles)))
    n = draw(st.integers(1, 20))
    species = draw(st.lists(st.sampled_from(ELEMENTS), min_size=n, max_size=n))
    coords = draw(st.lists(st.tuples(*[st.floats(-2.0, 2.0)] * 3), min_size=n, max_size=n))
    return Structure(Lattice.from_parameters(*lengths, *angles), species, coords)


@settings(max_examples=200, deadline=None)
@given(structures(), st.tuples(*[st.floats(-1.0, 1.0)] * 3))
def test_round_trip_within_precision(structure: Structure, shift: tuple[float, float, float]):
    text = encode(structure, translation=shift)
    decoded = decode(text)
    shifted = structure.copy()
    shifted.translate_sites(range(len(shifted)), shift, frac_coords=True, to_unit_cell=True)
    assert_equal_within_precision(shifted, decoded)


@settings(max_examples=200, deadline=None)
@given(structures())
def test_encoding_is_a_fixed_point(structure: Structure):
    text = encode(structure)
    assert encode(decode(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789. -\nabcHOSie[]MASK")), max_size=120))
def test_garbage_raises_only_parse_errors(text: str):
    try:
        decode(text)
    except CrystalParseError as err:
        assert str(err)


@settings(max_examples=200, deadline=None)
@given(structures(), st.data())
def test_damaged_strings_raise_only_parse_errors(structure: Structure, data: st.DataObject):
    lines = encode(structure).split("\n")
    i = data.draw(st.integers(0, len(lines) - 1))
    replacement = data.draw(st.sampled_from(["", "Xx", "1.0 2.0", "a b c", "0 0 0", "Si", "nan 1 1"]))
    lines[i] = replacement
    with contextlib.suppress(CrystalParseError):
        decode("\n".join(lines))


def test_every_pilot_structure_round_trips(pilot_structures):
    assert len(pilot_structures) == 3000
    for material_id, structure in pilot_structures:
        try:
            assert_equal_within_precision(structure, decode(encode(structure)))
        except AssertionError as err:
            raise AssertionError(f"{material_id}: {err}") from err


def test_format_of_a_known_structure(nacl):
    text = encode(nacl)
    lines = text.split("\n")
    assert lines[0] == "5.6 5.6 5.6"
    assert lines[1] == "90 90 90"
    assert lines[2:4] == ["Na", "0.00 0.00 0.00"]
    assert len(lines) == 2 + 2 * 8


def test_angles_are_rounded_not_truncated():
    lattice = Lattice.from_parameters(4.0, 4.0, 4.0, 89.7, 90.2, 119.6)
    text = encode(Structure(lattice, ["Si"], [[0, 0, 0]]))
    assert text.split("\n")[1] == "90 90 120"


def test_coordinates_wrap_after_rounding():
    lattice = Lattice.cubic(4.0)
    s = Structure(lattice, ["Si", "O", "O"], [[0.998, 0.0, 0.0], [-0.25, 1.5, 0.1], [0, 0, 0]])
    lines = encode(s).split("\n")
    assert lines[3] == "0.00 0.00 0.00"
    assert lines[5] == "0.75 0.50 0.10"


def test_translation_shifts_every_site():
    s = Structure(Lattice.cubic(4.0), ["Si", "O"], [[0.1, 0.2, 0.3], [0.9, 0.9, 0.9]])
    lines = encode(s, translation=[0.5, 0.0, 0.2]).split("\n")
    assert lines[3] == "0.60 0.20 0.50"
    assert lines[5] == "0.40 0.90 0.10"


def test_site_order_is_kept():
    s = Structure(Lattice.cubic(5.0), ["O", "Si", "O"], [[0.1] * 3, [0.2] * 3, [0.3] * 3])
    assert [site.specie.symbol for site in decode(encode(s))] == ["O", "Si", "O"]


def test_disordered_structure_is_refused():
    s = Structure(Lattice.cubic(4.0), [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="ordered"):
        encode(s)


GOOD = "3.9 3.9 3.9\n90 90 90\nSr\n0.00 0.00 0.00\nTi\n0.50 0.50 0.50"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3.9 3.9 3.9", "got 1 lines"),
        ("3.9 3.9 3.9\n90 90 90", "no sites"),
        ("3.9 3.9 3.9\n90 90 90\nSr", "wrong number of lines"),
        (GOOD.replace("3.9 3.9 3.9", "3.9 x 3.9"), "'x' is not a number"),
        (GOOD.replace("3.9 3.9 3.9", "3.9 3.9"), "expected 3 numbers"),
        (GOOD.replace("3.9 3.9 3.9", "3.9 0.0 3.9"), "b = 0 is not positive"),
        (GOOD.replace("3.9 3.9 3.9", "-3.9 3.9 3.9"), "a = -3.9 is not positive"),
        (GOOD.replace("90 90 90", "90 90 180"), r"not in \(0, 180\)"),
        (GOOD.replace("90 90 90", "60 60 120"), "no valid cell"),
        (GOOD.replace("Sr", "Xq"), "'Xq' is not an element symbol"),
        (GOOD.replace("Sr", "[MASK]"), "not an element symbol"),
        (GOOD.replace("0.50 0.50 0.50", "0.50 nan 0.50"), "not a finite number"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str):
    with pytest.raises(CrystalParseError, match=message):
        decode(text)


def test_max_sites():
    assert len(decode(GOOD, max_sites=2)) == 2
    with pytest.raises(CrystalParseError, match="2 sites is more than the maximum of 1"):
        decode(GOOD, max_sites=1)


def test_surrounding_whitespace_and_blank_lines_are_ignored():
    assert len(decode("\n  " + GOOD.replace("\n", "\n\n") + "\n\n")) == 2
