"""Code formats, check characters and constrained reading (issue 21)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.engines.base import Line, Reading
from bench.formats import cli_formats, constrained, run_formats
from ocr2stage.decoding import CONFUSABLE, decode_choices, decode_lattice, decode_string
from ocr2stage.formats import (
    BUILTIN_CHECKS,
    Format,
    FormatError,
    check_function,
    fields_to_regex,
)
from ocr2stage.synth.codes import (
    KIND_FORMATS,
    NUMERIC_KINDS,
    formats_manifest,
    random_code,
    registration,
)

SERIALS = Path(__file__).resolve().parent.parent / "datasets" / "serials"
CONTAINER = Format.from_fields("AAA[UJZ] NNNNNN C", "iso6346")


@pytest.mark.parametrize(
    ("check", "valid", "invalid"),
    [
        ("iso6346", "CSQU3054383", "CSQU3054384"),
        ("luhn", "79927398713", "79927398714"),
        ("gs1_mod10", "4006381333931", "4006381333932"),
        ("iso7064_mod11_10", "0792", "0794"),
        ("iso7064_mod37_36", "A12425GABC1234002M", "A12425GABC1234002N"),
        ("vin", "1M8GDM9AXKP042788", "1M8GDM9A1KP042788"),
    ],
)
def test_checks_accept_a_valid_code_and_refuse_one_character_off(check: str, valid: str, invalid: str) -> None:
    fn = check_function(check)
    assert fn(valid) and not fn(invalid)


def test_unknown_check_and_bad_field_strings_are_refused_naming_the_problem() -> None:
    with pytest.raises(FormatError, match="unknown check 'mod97'"):
        check_function("mod97")
    with pytest.raises(FormatError, match="never closed"):
        fields_to_regex("AA[UJ NN")
    with pytest.raises(FormatError, match="no check is named"):
        Format.from_fields("NNNNC")
    with pytest.raises(FormatError, match="exactly one of"):
        Format.from_spec({"fields": "NN", "regex": "[0-9]+"})
    assert set(BUILTIN_CHECKS) >= {"iso6346", "luhn", "gs1_mod10", "iso7064_mod37_36", "iso7064_mod11_10", "vin"}


def test_field_string_letters_digits_alternatives_literals_and_check_span() -> None:
    assert CONTAINER.regex == "[A-Z][A-Z][A-Z][UJZ]" + "[0-9]" * 7 and CONTAINER.check_end == 11
    assert CONTAINER.reason("CSQU 305438 3") is None  # spaces are layout
    assert CONTAINER.reason("CSQA3054383") == "does not fit the format"
    assert CONTAINER.reason("CSQU3054384") == "iso6346 check fails"
    with_type = Format.from_fields("AAA[UJZ]NNNNNNC NNAN", "iso6346")  # size/type after the check
    assert with_type.reason("CSQU305438322G1") is None and with_type.reason("CSQU305438422G1") is not None
    assert Format.from_fields("X-NN").accepts("Q-12") and not Format.from_fields("X-NN").accepts("Q12")
    assert Format.from_fields("\\N-NN").accepts("N-12") and not Format.from_fields("\\N-NN").accepts("5-12")


def test_string_engines_get_the_cheapest_look_alike_edit_and_the_check_picks_among_the_k_best() -> None:
    assert decode_string("CS0U 3O5438 3", CONTAINER).text == "CSQU3054383"  # 0 -> a letter, O -> 0, Q by the check
    out = decode_string("CSQU3054388", CONTAINER)  # 8's look-alike B is no digit: nothing fits the check
    assert out.text is None and "check fails" in (out.reason or "")
    assert decode_string("CSQU30543", CONTAINER).reason == "no candidate fits the format"  # never forced
    date = Format(KIND_FORMATS["date"], name="date")
    assert decode_string("2O24.1I.O7", date).text == "2024.11.07"


def test_lattice_decoding_takes_the_most_probable_accepted_string_and_may_drop_a_box() -> None:
    lattice = [
        (("C", 0.9), ("", 0.1)),
        (("S", 0.6), ("5", 0.4)),
        (("Q", 0.5), ("O", 0.3), ("0", 0.2)),
        (("U", 0.9), ("", 0.1)),
        (("3", 0.9), ("", 0.1)),
        (("O", 0.6), ("0", 0.4)),
        (("5", 1.0),),
        (("4", 1.0),),
        (("3", 1.0),),
        (("8", 1.0),),
        (("3", 0.8), ("", 0.2)),
        (("-", 0.5), ("", 0.5)),
    ]
    out = decode_lattice(lattice, CONTAINER)
    assert out.text == "CSQU3054383" and out.cost >= out.free_cost
    assert decode_lattice(lattice[:6], CONTAINER).reason == "no candidate fits the format"


def test_generator_kind_formats_accept_every_code_the_templates_draw() -> None:
    """The shipped formats are the templates', not tuned on the test set: 6,000 fresh codes fit."""
    rng = np.random.default_rng(123)
    formats = run_formats({"formats": formats_manifest()})
    assert formats is not None
    for i in range(6000):
        text, kind = random_code(rng, numeric=bool(i % 2))
        assert formats.for_item({"kind": kind}).reason(text) is None, (kind, text)  # type: ignore[union-attr]
    for _ in range(500):
        assert Format(KIND_FORMATS["registration"]).accepts(registration(rng))
    assert set(NUMERIC_KINDS) <= set(KIND_FORMATS)


def test_serials_manifest_ships_the_generator_formats_and_every_truth_fits() -> None:
    manifest = json.loads((SERIALS / "manifest.json").read_text())
    assert manifest["formats"] == formats_manifest()
    formats = run_formats(manifest)
    for line in (SERIALS / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert formats.for_item(row["meta"]).reason(row["text"]) is None  # type: ignore[union-attr]


def test_command_line_format_wins_over_the_manifest() -> None:
    spec = cli_formats("AAA[UJZ]NNNNNNC", "iso6346")
    formats = run_formats({"formats": formats_manifest()}, {"formats": spec})
    assert formats is not None and formats.by is None and formats.for_item({"kind": "sn"}).check == "iso6346"
    assert cli_formats(None, None) is None
    with pytest.raises(FormatError):
        cli_formats(None, "luhn")


def test_string_engine_choices_correct_with_the_engines_own_alternatives_not_the_look_alike_table() -> None:
    """Tesseract read the check digit 3 as 4 and listed 3 as its second choice (4/3 is no look-alike;
    on real serials '4' came with '1' close behind): the check finds the code through the choice,
    where the look-alike rule finds none. A look-alike Tesseract did not list (O for 0) or listed
    under CHOICE_MIN is not taken: that reading is a no-read, not a guess."""
    assert ("4", "3") not in CONFUSABLE
    read = "CSQU3054384"
    choices = [((c, 1.0),) for c in read[:-1]] + [(("4", 0.7), ("3", 0.25), ("A", 0.05))]
    assert decode_string(read, CONTAINER).text is None
    out = decode_choices(choices, CONTAINER)
    assert (
        out.text == "CSQU3054383"
        and out.cost == pytest.approx(-np.log(0.25))
        and out.free_cost == pytest.approx(-np.log(0.7))
    )
    with_o = choices[:5] + [(("O", 0.9), ("Q", 0.1))] + choices[6:]  # 'O' in a digit's place, no '0' listed
    assert decode_string("CSQU3O54383", CONTAINER).text == "CSQU3054383"
    assert decode_choices(with_o, CONTAINER).text is None
    assert decode_choices(with_o[:5] + [(("O", 0.9), ("0", 0.1))] + with_o[6:], CONTAINER).text == "CSQU3054383"
    assert decode_choices(with_o[:5] + [(("O", 0.995), ("0", 0.005))] + with_o[6:], CONTAINER).text is None


def test_harness_decodes_a_line_with_choices_normalised_and_falls_back_to_the_string() -> None:
    """``constrained`` reads a line's ``choices`` with the run's normalisation (a lower-case choice
    is the upper-case character); choices that do not spell the reading fall back to the string rule."""
    manifest = {"normalize": {"uppercase": True, "remove_whitespace": True}}
    boxes = tuple(((c, 1.0),) for c in "csqu305438") + ((("4", 0.6), ("3", 0.3), ("a", 0.1)),)
    boxes = boxes[:2] + ((("q", 0.5), ("Q", 0.3), ("0", 0.2)),) + boxes[3:]  # q and Q are one character
    line = Line(text="csqu 305438 4", choices=boxes)
    assert constrained(Reading((line,)).to_dict(), manifest, CONTAINER).text == "CSQU3054383"
    short = Line(text="csqu 305438 4", choices=boxes[1:])  # out of step with the text: choices unused
    assert constrained(Reading((short,)).to_dict(), manifest, CONTAINER).text is None


@pytest.mark.timeout(300)
def test_real_tesseract_lines_carry_each_symbols_alternatives_as_probabilities() -> None:
    """The real engine on three ``serials`` images: every line has one set of choices per character
    read (the character first, probabilities summing to 1), some with more than one, and they survive
    the stored reading."""
    from bench.engines.tesseract import TesseractEngine

    rows = [json.loads(line) for line in (SERIALS / "labels.jsonl").read_text().splitlines()[1:4]]
    images = [np.asarray(Image.open(SERIALS / "images" / r["file"]).convert("RGB")) for r in rows]
    readings = TesseractEngine().read(images)
    lines = [ln for r in readings for ln in r.lines]
    assert lines
    for ln in lines:
        assert ln.choices is not None and [a[0][0] for a in ln.choices] == [c for c in ln.text if not c.isspace()]
        assert all(sum(p for _, p in a) == pytest.approx(1.0) for a in ln.choices)
    assert sum(len(a) > 1 for ln in lines for a in ln.choices or ()) >= 5
    for r in readings:
        assert Reading.from_dict(json.loads(json.dumps(r.to_dict()))) == r


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_reader_with_a_format_matches_the_harness_decoding_and_keeps_the_raw_text() -> None:
    """``TwoStageOCR.read(images, format=...)`` and the harness (decoding the engine's stored
    lattice) give the same constrained reading; the lines read as without a format."""
    from bench.engines.two_stage import TwoStageEngine

    manifest = json.loads((SERIALS / "manifest.json").read_text())
    formats = run_formats(manifest)
    rows = [json.loads(line) for line in (SERIALS / "labels.jsonl").read_text().splitlines()[:3]]
    images = [np.asarray(Image.open(SERIALS / "images" / r["file"]).convert("RGB")) for r in rows]
    engine = TwoStageEngine()
    fmts = [formats.for_item(r["meta"]) for r in rows]  # type: ignore[union-attr]
    plain = engine._ocr.read(images)
    with_format = engine._ocr.read(images, format=fmts)
    readings = engine.read(images)
    for p, w, reading, fmt in zip(plain, with_format, readings, fmts):
        assert p.text == w.text and w.constrained is not None
        harness = constrained(json.loads(json.dumps(reading.to_dict())), manifest, fmt)  # type: ignore[arg-type]
        assert harness.text == w.constrained.text and harness.reason == w.constrained.reason


def _record(engine: str, truth: str, reading: dict, prediction: str) -> dict:
    return {
        "engine": engine,
        "file": f"{truth}.png",
        "truth": truth,
        "prediction": prediction,
        "reading": reading,
        "latency_ms": 1.0,
        "error": None,
        "meta": {"kind": "container"},
        "truth_chars": None,
    }


def test_results_table_and_metrics_count_read_right_misread_and_no_read_raw_and_with_formats() -> None:
    """String readings get the look-alike edit, lattices the decoder; a format's rejections of
    right and wrong raw readings are counted per format and check."""
    from bench.metrics.formats import format_metrics
    from bench.results import results_table

    manifest = {"normalize": {"uppercase": True, "remove_whitespace": True}, "formats": formats_manifest()}
    truth = "CSQU305438322G1"

    def line(text: str, lattice: list | None = None) -> dict:
        return {"lines": [{"text": text, "box": None, "confidence": None, "chars": None, "lattice": lattice}]}

    lattice = [[(c, 0.9), ("", 0.1)] for c in "CSQU305438322G1"]
    lattice[2] = [("O", 0.6), ("Q", 0.4)]  # the raw reading misreads Q as O; only Q passes the check
    records = [
        _record("strings", truth, line("CSQU 3O5438 3 22G1"), "CSQU3O5438322G1"),  # fixed by O -> 0
        _record("strings", truth, line("CSQU 305438 3 22G1"), truth),  # right, stays right
        _record("strings", truth, line("CSQU 305438 8 22G1"), "CSQU305438822G1"),  # check fails: no-read
        _record("lattice", truth, line("CSOU3054383 22G1", lattice), "CSOU305438322G1"),
    ]
    formats = run_formats(manifest)
    table = results_table(records, manifest, formats)
    assert table["constrained"].fillna("-").tolist() == [truth, truth, "-", truth]
    assert table["raw_format_reason"].fillna("-").tolist() == [
        "does not fit the format",
        "-",
        "iso6346 check fails",
        "iso6346 check fails",
    ]
    strings = format_metrics(table[table["engine"] == "strings"])
    assert (strings["raw"]["read_right"], strings["raw"]["misread"]) == (1, 2)
    assert (
        strings["constrained"]["read_right"],
        strings["constrained"]["misread"],
        strings["constrained"]["no_read"],
    ) == (2, 0, 1)
    per = strings["per_format"]["container"]
    assert (per["format_rejected_wrong"], per["check_rejected_wrong"], per["check_rejected_right"]) == (1, 1, 0)
    assert format_metrics(table[table["engine"] == "lattice"])["constrained"]["read_right"] == 1


CONTAINERS = SERIALS.parent / "containers"


def test_containers_set_carries_valid_check_digits_in_both_layouts_and_the_recipe_reproduces_it(tmp_path: Path) -> None:
    """Every shipped container number passes its ISO 6346 format; half are stacked; the first
    image of each layout is rendered again byte for byte from the recipe."""
    from ocr2stage.synth.containers import CONTAINER_STYLES
    from ocr2stage.synth.dataset import sample_seed, save_png

    recipe = json.loads((SERIALS.parent / "recipes" / "containers.json").read_text())
    manifest = json.loads((CONTAINERS / "manifest.json").read_text())
    formats = run_formats(manifest)
    rows = [json.loads(line) for line in (CONTAINERS / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == recipe["n"] >= 300
    for row in rows:
        assert formats.for_item(row["meta"]).reason(row["text"]) is None  # type: ignore[union-attr]
        assert formats.for_item(row["meta"]).check == "iso6346"  # type: ignore[union-attr]
    layouts = [r["meta"]["layout"] for r in rows]
    assert layouts.count("stacked") == layouts.count("horizontal") == len(rows) // 2
    assert all(len(r["text"].split("\n")) == 12 for r in rows if r["meta"]["layout"] == "stacked")
    for i, style in enumerate(recipe["styles"]):
        save_png(CONTAINER_STYLES[style](sample_seed(recipe["seed"], i)), tmp_path / "x.png")
        assert (tmp_path / "x.png").read_bytes() == (CONTAINERS / "images" / f"{i:06d}.png").read_bytes()
