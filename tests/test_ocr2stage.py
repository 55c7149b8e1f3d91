"""ocr2stage with its real models: stage 1 counts, weights checks, a tiny training run, the engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr2stage.classification.weights import DEFAULT_PATH, CharClassifier, sidecar, verify_classifier
from ocr2stage.detection import CharDetector, WeightsError, verify_craft
from ocr2stage.detection.craft import default_craft_path
from ocr2stage.synth import STYLES, TEST_SEEDS, render_sample, sample_seed

DEV_SEED = 424242
"""Generated images for these tests: not a test-set seed, not the training seed (1)."""
MONO = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"


def normalise(text: str) -> str:
    return "".join(text.split()).upper()


def clean_code(lines: list[str], size: int = 30) -> np.ndarray:
    """Dark code on a light background, DejaVu Sans Mono: the easiest case for stage 1."""
    font = ImageFont.truetype(MONO, size)
    w = max(int(font.getlength(t)) for t in lines) + 2 * size
    img = Image.new("RGB", (w, int(size * (1.5 * len(lines) + 1.5))), (235, 235, 228))
    for i, t in enumerate(lines):
        ImageDraw.Draw(img).text((size, size * (0.75 + 1.5 * i)), t, fill=(20, 20, 20), font=font)
    return np.asarray(img)


@pytest.fixture(scope="module")
def detector() -> CharDetector:
    return CharDetector()


@pytest.fixture(scope="module")
def reader():
    """The shipped reader (CRAFT and both classifiers), loaded once for the tests that read."""
    from ocr2stage import TwoStageOCR

    return TwoStageOCR.from_pretrained()


@pytest.fixture(scope="module")
def engine():
    from bench.engines.two_stage import TwoStageEngine

    return TwoStageEngine(device="cpu")


@pytest.mark.parametrize("lines", [["SN7X4Q-99B2K"], ["PN 4471", "LOT B0423"]])
def test_stage1_finds_each_character_in_reading_order(detector: CharDetector, lines: list[str]) -> None:
    found = detector.detect(clean_code(lines))
    assert [sum(not c.probe for c in ln.chars) for ln in found] == [len(t.replace(" ", "")) for t in lines]
    for ln in found:
        xs = [c.box[0] for c in ln.chars if not c.probe]
        assert xs == sorted(xs)
    tops = [min(c.box[1] for c in ln.chars) for ln in found]
    assert tops == sorted(tops)


def test_stage1_counts_characters_on_generated_images(detector: CharDetector) -> None:
    samples = [render_sample(sample_seed(DEV_SEED, i), style="ocr_font") for i in range(6)]
    counts = [
        (sum(not c.probe for ln in detector.detect(np.asarray(s.image)) for c in ln.chars), len(s.chars))
        for s in samples
    ]
    assert sum(found == truth for found, truth in counts) >= 5, counts


@pytest.mark.parametrize(
    ("options", "precision"), [({"bf16": True}, "bf16-backbone"), ({"int8": True}, "int8-backbone")]
)
def test_reduced_precision_backbone_keeps_the_score_maps_and_the_characters(
    options: dict[str, bool], precision: str
) -> None:
    """The bf16 backbone (chosen by default where the CPU or GPU has bf16; it runs here even on a
    machine without native bf16, only slower) and the opt-in int8 one (for CPUs without bf16)
    must find the same characters as float32. int8 also checks that the skip features are
    rectified as in eager float execution, or the score maps fall apart."""
    image = clean_code(["SN7X4Q-99B2K", "LOT B0423"])
    detectors = [CharDetector(bf16=False), CharDetector(**options)]
    assert [d.net.precision for d in detectors] == ["fp32", precision]
    a, b = (d.net(image, (448, 160)) for d in detectors)
    assert a.region.max() > 0.5 and np.abs(a.region - b.region).max() < 0.1
    counts = [[sum(not c.probe for c in ln.chars) for ln in d.detect(image)] for d in detectors]
    assert counts[0] == counts[1] == [12, 8]


def test_small_print_beside_a_big_code_is_a_line_of_its_own(detector: CharDetector) -> None:
    """A plate's state motto beside its code, centred on the same height: joined into one line,
    the small print's majority set the line height (a median) to a fifth of the code's, and every
    crop of the code was cut from that thin band."""
    sans = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 64)
    img = Image.new("RGB", (520, 130), (235, 235, 228))
    draw = ImageDraw.Draw(img)
    draw.text((12, 65), "NORTH STAR STATE", fill=(20, 20, 20), font=sans.font_variant(size=13), anchor="lm")
    draw.text((170, 65), "FUW 92", fill=(20, 20, 20), font=sans, anchor="lm")
    lines = detector.detect(np.asarray(img))
    assert len(lines) == 2
    code = max(lines, key=lambda ln: ln.fit.height)
    assert sum(not c.probe for c in code.chars) == 5
    assert 0.8 < code.fit.height / (0.73 * 64) < 1.25, code.fit.height


def test_a_short_segment_one_and_a_dash_stay_in_their_line(detector: CharDetector) -> None:
    """``7821-96`` on a segment display (a training image): CRAFT gives the ``1`` (a short bar)
    and the ``-`` one word of half the code's median height. The rule's first version (1.6x on
    word medians) took it for small print and made it a line of its own."""
    sample = render_sample(sample_seed(1, 130), style="segment_display")
    assert sample.text == "7821-96"
    lines = detector.detect(np.asarray(sample.image.convert("RGB")))
    assert [sum(not c.probe for c in ln.chars) for ln in lines] == [7]


def test_a_shrunk_crop_averages_fine_detail_instead_of_sampling_it() -> None:
    """A 1-pixel checkerboard shrunk to a quarter must come out mid-grey. ``warpAffine`` alone
    samples one pixel in four and made it all black: the dot inside a ``0`` could vanish the same way."""
    from ocr2stage.classification.crops import crop

    board = ((np.indices((128, 128)).sum(axis=0) % 2) * 255).astype(np.uint8)
    out = crop(board, (0.0, 0.0, 128.0, 128.0))
    assert out.shape == (32, 32)
    assert abs(float(out.mean()) - 127.5) < 8 and float(out.std()) < 8


def test_shipped_classifier_verifies() -> None:
    path = DEFAULT_PATH
    record = json.loads(sidecar(path).read_text())
    assert verify_classifier(path) == record["sha256"] and record["sha256"].startswith("sha256:")
    assert CharClassifier.load(path).checksum == record["sha256"]


def test_corrupt_classifier_copy_is_refused(tmp_path: Path) -> None:

    bad = tmp_path / "classifier.pt"
    shutil.copy(DEFAULT_PATH, bad)
    shutil.copy(sidecar(DEFAULT_PATH), sidecar(bad))
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="corrupt"):
        CharClassifier.load(bad)
    sidecar(bad).unlink()
    with pytest.raises(WeightsError, match="checksum missing"):
        CharClassifier.load(bad)


def test_craft_is_verified_by_md5(tmp_path: Path) -> None:
    assert verify_craft(default_craft_path()) == "md5:2f8227d2def4037cdb3b34389dcf9ec1"
    with pytest.raises(WeightsError, match="missing"):
        verify_craft(tmp_path / "craft_mlt_25k.pth")
    truncated = tmp_path / "craft_mlt_25k.pth"
    truncated.write_bytes(default_craft_path().read_bytes()[:1000])
    with pytest.raises(WeightsError, match="corrupt"):
        CharDetector(craft_path=truncated)


def test_one_epoch_training_end_to_end(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ocr2stage.cli import app

    out = tmp_path / "tiny.pt"
    args = [
        "train",
        "--n-images",
        "8",
        "--val-images",
        "4",
        "--epochs",
        "1",
        "--seed",
        "5",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(sidecar(out).read_text())
    assert record["epochs"] == 1 and record["train_crops"] > 0 and 0.0 <= record["val_accuracy"] <= 1.0
    assert CharClassifier.load(out).checksum == record["sha256"]
    # A second run reuses the cached stage-1 crops.
    assert len(list((tmp_path / "cache").glob("crops-*.npz"))) == 2
    again = CliRunner().invoke(app, [*args[:-4], "--out", str(tmp_path / "again.pt"), *args[-2:]])
    assert again.exit_code == 0 and "stage 1" in again.output


def test_training_refuses_a_test_set_seed(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ocr2stage.cli import app

    result = CliRunner().invoke(app, ["train", "--seed", str(TEST_SEEDS["serials"]), "--out", str(tmp_path / "x.pt")])
    assert result.exit_code != 0 and "test set" in result.output


def test_engine_reads_generated_codes(engine) -> None:
    code_styles = [s for s in STYLES if s != "nameplate"]  # nameplates carry fine print too
    samples = [render_sample(sample_seed(DEV_SEED, 100 + i), style=s) for i, s in enumerate(code_styles)]
    readings = engine.read([np.asarray(s.image.convert("RGB")) for s in samples])
    read = [normalise("\n".join(ln.text for ln in r.lines)) for r in readings]
    truth = [normalise(s.text) for s in samples]
    assert sum(a == b for a, b in zip(read, truth)) >= len(samples) - 1, list(zip(truth, read))
    chars = [c for r in readings for ln in r.lines for c in ln.chars]
    assert all(c.box is not None and 0.0 <= c.confidence <= 1.0 for c in chars)
    info = engine.describe()
    assert info.name == "two-stage" and info.weights["craft_mlt_25k.pth"].startswith("md5:")
    assert info.weights["classifier.pt"].startswith("sha256:")


def test_library_reads_without_the_harness() -> None:
    from ocr2stage import TwoStageOCR

    result = TwoStageOCR.from_pretrained().read([clean_code(["AB12-CD34"])])[0]
    assert normalise(result.text) == "AB12-CD34"
    assert all(not c.uncertain for c in result.lines[0].chars)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((3, 3, 3), np.uint8),
        np.full((80, 300, 3), 255, np.uint8),
        np.zeros((40, 40), np.uint8),
        np.zeros((5,), np.uint8),
    ],
    ids=["empty", "3x3", "blank", "gray", "1d"],
)
def test_bad_input_gives_an_empty_reading(engine, image: np.ndarray) -> None:
    assert engine.read([image])[0].lines == ()


def test_a_split_dash_is_read_once() -> None:
    from ocr2stage.pipeline import CharResult, _merge_echoes

    def char(text: str, x: float) -> CharResult:
        return CharResult(text, (x, 0.0, x + 4.0, 10.0), 0.9, False)

    merged = _merge_echoes([char("3", 0), char("-", 6), char("-", 10), char("2", 16), char("2", 22)])
    assert [c.text for c in merged] == ["3", "-", "2", "2"]
    assert merged[1].box == (6.0, 0.0, 14.0, 10.0)


def test_a_probe_keeps_a_likely_character_that_reject_outscores() -> None:
    from ocr2stage.classification.net import CLASSES
    from ocr2stage.pipeline import _label

    p = np.zeros(len(CLASSES), np.float32)
    p[CLASSES.index(".")], p[-1] = 0.35, 0.6
    assert CLASSES[_label(p, probe=True, probe_accept=0.3)] == "."
    assert CLASSES[_label(p, probe=False, probe_accept=0.3)] == "<reject>"  # a CRAFT detection stays rejected
    p[CLASSES.index(".")], p[-1] = 0.2, 0.75
    assert CLASSES[_label(p, probe=True, probe_accept=0.3)] == "<reject>"


def test_decimal_points_and_colons_between_digits_are_read(reader) -> None:
    result = reader.read([clean_code(["12.34.56", "07:45"])])[0]
    assert [normalise(ln.text) for ln in result.lines] == ["12.34.56", "07:45"]


def test_fine_tuning_from_shipped_weights_on_user_crops(tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    crops.mkdir()
    rows = ["file,label"]
    for i, ch in enumerate("AB12-.:/"):
        Image.fromarray(clean_code([ch], size=40)).save(crops / f"{i}.png")
        rows.append(f"{i}.png,{ch}")
    Image.fromarray(np.full((40, 30, 3), 200, np.uint8)).save(crops / "blank.png")
    rows.append("blank.png,reject")
    (crops / "labels.csv").write_text("\n".join(rows) + "\n")
    _, record = _fine_tune(tmp_path, "--crops", crops)
    assert record["train_crops"] == 9 and record["init"] == str(DEFAULT_PATH)


def _fine_tune(tmp_path: Path, flag: str, folder: Path) -> tuple[str, dict]:
    """One epoch from the shipped weights on the user's ``folder`` only; (output, weights record)."""
    from typer.testing import CliRunner

    from ocr2stage.cli import app

    out = tmp_path / "tuned.pt"
    args = [
        "train",
        "--init",
        str(DEFAULT_PATH),
        flag,
        str(folder),
        "--n-images",
        "0",
        "--val-images",
        "2",
        "--epochs",
        "1",
        "--seed",
        "5",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(sidecar(out).read_text())
    assert CharClassifier.load(out).checksum == record["sha256"]
    return result.output, record


def test_a_box_joining_two_characters_is_split_and_both_are_read(detector: CharDetector, reader) -> None:
    from ocr2stage.classification.crops import line_crops, to_gray
    from ocr2stage.classification.net import CLASSES
    from ocr2stage.classification.second_look import second_look
    from ocr2stage.detection import DetectedChar, DetectedLine

    image = clean_code(["47:15"])
    (line,) = detector.detect(image)
    chars = [c for c in line.chars if not c.probe]
    assert len(chars) == 5
    a, b = chars[0].box, chars[1].box  # "4" and "7" as one box, as CRAFT sometimes gives them
    joined = DetectedChar((a[0], min(a[1], b[1]), b[2], max(a[3], b[3])), chars[0].score)
    merged = [DetectedLine((joined, *chars[2:]), line.fit)]
    ocr = reader
    gray = to_gray(image)
    probs = ocr.classifier.probabilities(line_crops(gray, merged))
    labels = probs.argmax(axis=1)
    assert (labels == len(CLASSES) - 1).tolist() == [True, False, False, False]  # the pair is not one character
    (lines,), probs = second_look([gray], [merged], probs, labels, ocr.classifier.probabilities)
    assert len(lines[0].chars) == 5
    assert "".join(CLASSES[int(p.argmax())] for p in probs) == "47:15"


def test_the_proposal_budget_serves_the_tallest_line_first(detector: CharDetector, reader) -> None:
    """Two lines, each with a box joining two characters: within a budget of one proposal only
    the taller line is split, with a large one both are."""
    from ocr2stage.classification.crops import line_crops, to_gray
    from ocr2stage.classification.net import CLASSES
    from ocr2stage.classification.second_look import second_look
    from ocr2stage.detection import DetectedChar, DetectedLine

    big, small = clean_code(["47:15"], 40), clean_code(["47:15"], 26)
    image = np.full((big.shape[0] + small.shape[0], big.shape[1], 3), 235, np.uint8)
    image[: big.shape[0]] = big
    image[big.shape[0] :, : small.shape[1]] = small
    joined_lines = []
    for line in sorted(detector.detect(image), key=lambda ln: -ln.fit.height):
        chars = [c for c in line.chars if not c.probe]
        assert len(chars) == 5
        a, b = chars[0].box, chars[1].box
        joined = DetectedChar((a[0], min(a[1], b[1]), b[2], max(a[3], b[3])), chars[0].score)
        joined_lines.append(DetectedLine((joined, *chars[2:]), line.fit))
    gray = to_gray(image)
    probs = reader.classifier.probabilities(line_crops(gray, joined_lines))
    labels = probs.argmax(axis=1)
    assert labels[[0, 4]].tolist() == [len(CLASSES) - 1] * 2

    def texts(budget: int) -> list[str]:
        (lines,), p = second_look([gray], [joined_lines], probs, labels, reader.classifier.probabilities, budget)
        read = [
            "".join(CLASSES[int(q.argmax())] for q in p[k : k + len(ln.chars)])
            for k, ln in zip(np.cumsum([0] + [len(ln.chars) for ln in lines[:-1]]), lines)
        ]
        return [t.replace("<reject>", "?") for t in read]

    assert texts(1) == ["47:15", "?:15"]
    assert texts(1000) == ["47:15", "47:15"]


def test_a_character_cut_in_two_pieces_is_read_once(detector: CharDetector, reader) -> None:
    from ocr2stage.classification.crops import line_crops, to_gray
    from ocr2stage.classification.second_look import second_look
    from ocr2stage.detection import DetectedChar, DetectedLine
    from ocr2stage.pipeline import assemble_line

    image = clean_code(["SN4W7H"])
    (line,) = detector.detect(image)
    chars = list(line.chars)
    w = [i for i, c in enumerate(chars) if not c.probe][3]
    x0, y0, x1, y1 = chars[w].box  # the W as two overlapping pieces, as CRAFT gives a wide character two peaks
    cut = 0.6 * (x1 - x0)
    pieces = (DetectedChar((x0, y0, x0 + cut, y1), 1.0), DetectedChar((x1 - cut, y0, x1, y1), 1.0))
    doubled = DetectedLine((*chars[:w], *pieces, *chars[w + 1 :]), line.fit)
    ocr = reader
    gray = to_gray(image)
    probs = ocr.classifier.probabilities(line_crops(gray, [doubled]))
    assert assemble_line(doubled, probs, 0.6, 0.45, 1.4, 0.3).text == "SN4WW7H"  # each piece reads as W
    labels = probs.argmax(axis=1)
    (lines,), probs = second_look([gray], [[doubled]], probs, labels, ocr.classifier.probabilities)
    assert assemble_line(lines[0], probs, 0.6, 0.45, 1.4, 0.3).text == "SN4W7H"


def test_second_look_fixes_generated_codes_and_breaks_none(reader) -> None:
    """End to end on generated codes (a seed of its own): the reader with and without the second look."""
    from ocr2stage import TwoStageOCR
    from ocr2stage.classification.dataset import generated_samples
    from ocr2stage.pipeline import ReaderConfig

    with_look = reader
    without = TwoStageOCR(with_look.detector, with_look.classifier, ReaderConfig(second_look=False))
    fixed, broken = [], []
    for i, sample in generated_samples(DEV_SEED, 60, 45):
        if sample.meta["style"] == "nameplate":
            continue
        rgb = np.asarray(sample.image.convert("RGB"))
        truth, before, now = (
            normalise(t) for t in (sample.text, without.read([rgb])[0].text, with_look.read([rgb])[0].text)
        )
        if before != truth and now == truth:
            fixed.append(i)
        if before == truth and now != truth:
            broken.append((i, truth, now))
    assert fixed and not broken, (fixed, broken)


def _text_labels(read: str, text: str) -> str:
    from ocr2stage.classification.net import CLASSES
    from ocr2stage.classification.text_labels import REJECT_SYMBOL, align_labels

    return "".join(
        "~" if k == len(CLASSES) - 1 else CLASSES[k] for k in align_labels(read.replace("~", REJECT_SYMBOL), text)
    )


def test_a_code_text_labels_misread_and_rejected_crops_with_its_characters() -> None:
    assert _text_labels("7~BCZ23", "7ABC123") == "7ABC123"  # a rejected A and a misread 1 are labelled
    assert _text_labels("~7~A.BC~", "7ABC") == "~7~A~BC~"  # a crop the label has no character for: reject
    assert _text_labels("7BC", "7ABC") == "7BC"  # a character no crop holds is left out


def test_a_label_line_labels_the_detected_line_read_closest_to_it() -> None:
    from ocr2stage.classification.text_labels import REJECT_SYMBOL, label_lines

    reads = [r.replace("~", REJECT_SYMBOL) for r in ("CALIFORNIA", "~7~A~B~C~1~2~3~", "DMV.CA.GOV")]
    assert list(label_lines(reads, "7ABC123")) == [1]
    assert sorted(label_lines(reads, "7ABC123\nCALIFORNIA")) == [0, 1]
    assert label_lines(reads, "XQ88") == {}  # no line reads close enough: the image is left out


def test_text_labels_agree_with_the_generator_boxes(detector: CharDetector) -> None:
    """On generated codes, labelling crops from the text alone gives what the true boxes give."""
    from ocr2stage.classification.crops import line_crops, to_gray
    from ocr2stage.classification.dataset import label_detections
    from ocr2stage.classification.text_labels import label_lines, reading

    clf = CharClassifier.load()
    agree = total = unmatched = 0
    for i in range(14):
        sample = render_sample(sample_seed(11, i), style=STYLES[i % len(STYLES)])
        rgb = np.asarray(sample.image.convert("RGB"))
        lines = detector.detect(rgb)
        per_line = [line_crops(to_gray(rgb), [line]) for line in lines]
        matched = label_lines([reading(clf.probabilities(c)) for c in per_line], sample.text)
        unmatched += not matched  # left out by the labeller, as a user's unreadable image is
        for k, labels in matched.items():
            truth = label_detections(list(lines[k].chars), sample.chars)
            agree += sum(a == b for a, b in zip(labels, truth))
            total += len(labels)
    assert unmatched <= 1 and total > 300 and agree / total >= 0.97


def test_line_confidence_is_the_closest_call_rejected_boxes_included():
    from ocr2stage.pipeline import line_confidence

    sure = (("A", 0.98), ("4", 0.01))
    lost_one = (("", 0.55), ("1", 0.44))  # a thin 1 dropped as <reject>: the text never shows it
    assert line_confidence([sure, sure]) == pytest.approx(0.97)
    assert line_confidence([sure, lost_one, sure]) == pytest.approx(0.11)
    assert line_confidence([(("B", 1.0),)]) == 1.0
    assert line_confidence([]) == 0.0
