"""Readout: choosing and normalising the code among an engine's lines, never from the truth."""

import pytest

from bench.engines.base import Line, Reading
from bench.readout import normalize, read_out

PLATE = Reading(
    (
        Line("California", (10, 5, 200, 25), 0.9),
        Line("7ABC-123", (20, 40, 300, 110), 0.8),
        Line("dmv.ca.gov", (60, 120, 180, 140), 0.95),
    )
)
SERIAL = {
    "charset": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "normalize": {"uppercase": True, "remove_whitespace": True, "keep_only_charset": True},
}


def test_normalize_rules():
    assert normalize(" sn 7x-4\nq ", {"normalize": {"uppercase": True, "remove_whitespace": True}}) == "SN7X-4Q"
    assert normalize("7ABC-123", SERIAL) == "7ABC123"
    assert normalize("O0", {"normalize": {"map": {"O": "0"}}}) == "00"


def test_all_lines_joins_in_order():
    assert (
        read_out(PLATE, {"normalize": {"uppercase": True, "remove_whitespace": True}}, "all_lines")
        == "CALIFORNIA7ABC-123DMV.CA.GOV"
    )


def test_tallest_line_picks_the_plate_code():
    assert read_out(PLATE, SERIAL, "tallest_line") == "7ABC123"


def test_best_fit_prefers_the_pattern():
    manifest = {**SERIAL, "pattern": "^[0-9][A-Z]{3}[0-9]{3}$"}
    assert read_out(PLATE, manifest, "best_fit") == "7ABC123"


def test_empty_reading_and_unknown_mode():
    assert read_out(Reading(), SERIAL) == ""
    with pytest.raises(ValueError, match="unknown readout"):
        read_out(PLATE, SERIAL, "longest")


def test_fragments_group_into_lines_without_swallowing_captions():
    from bench.engines.order import into_lines

    lines = into_lines(
        [
            ("FUW999", (60, 30, 250, 120), 0.9),  # the tall code
            ("ALASKA", (10, 25, 55, 45), 0.8),  # a small caption beside its top edge
            ("STATE", (10, 70, 55, 82), 0.8),  # a small caption level with its middle
            ("SN", (10, 140, 40, 170), 0.9),
            ("7X4Q", (50, 142, 120, 171), 0.7),
        ]
    )
    assert [ln.text for ln in lines] == ["ALASKA", "FUW999", "STATE", "SN 7X4Q"]
    assert lines[3].box == (10, 140, 120, 171) and lines[3].confidence == 0.7


def test_full_width_forms_are_read_as_their_characters_unless_turned_off():
    """Issue 25.15: PP-OCRv5 returns full-width ``：``, ``Ｓ``, ``１``; they were scored wrong."""
    rules = {"normalize": {"uppercase": True, "remove_whitespace": True}}
    assert normalize("ＳＮ：１２ａ", rules) == "SN:12A" == normalize("SN:12a", rules)
    off = {"normalize": {**rules["normalize"], "unicode": "none"}}
    assert normalize("ＳＮ：１２", off) == "ＳＮ：１２"
    line = Reading((Line("ＡＢ１２", (0, 0, 50, 20), 0.9),))
    assert read_out(line, {**rules, "charset": "AB12", "pattern": "^AB12$"}, "best_fit") == "AB12"


def test_unicode_normalisation_is_in_the_scoring_key():
    from bench.readout import scoring_key

    assert scoring_key({"normalize": {"unicode": "NFKC"}}) != scoring_key({"normalize": {"unicode": "none"}})
