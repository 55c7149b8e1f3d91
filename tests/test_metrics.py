"""Metrics against hand-computed cases."""

import math

import pytest

from bench.metrics.detection import char_box_counts, iou_matrix
from bench.metrics.latency import latency_stats
from bench.metrics.text import align, cer, char_error_table, confusion_pairs, edit_counts, failure_class


def test_align_marks_each_edit_on_its_characters():
    assert align("SN7X", "SNZX") == [
        ("equal", "S", "S"),
        ("equal", "N", "N"),
        ("replace", "7", "Z"),
        ("equal", "X", "X"),
    ]
    assert align("AB", "") == [("delete", "A", ""), ("delete", "B", "")]
    assert align("", "Q") == [("insert", "", "Q")]


def test_cer_and_edit_counts_by_hand():
    assert cer("ABCD", "ABXD") == 0.25
    assert cer("ABCD", "ABD") == 0.25
    assert cer("AB", "ABCDEF") == 2.0  # insertions can push CER above 1
    assert cer("", "") == 0.0 and cer("", "A") == 1.0
    assert edit_counts("B0B", "8OB") == {"sub": 2, "del": 0, "ins": 0, "hit": 1}


@pytest.mark.parametrize(
    ("truth", "pred", "kind"),
    [
        ("ABC", "ABC", "correct"),
        ("ABC", "", "no_text"),
        ("ABC", "AC", "missing_chars"),
        ("ABC", "ABCC", "extra_chars"),
        ("ABC", "A8C", "substitutions"),
        ("ABCD", "A8CDE", "mixed"),
    ],
)
def test_failure_classes(truth, pred, kind):
    assert failure_class(truth, pred) == kind


def test_char_error_table_counts_per_truth_character():
    table = char_error_table([("B0", "8O"), ("B1", "B"), ("A", "AX")]).set_index("char")
    assert table.loc["B", "count"] == 2 and table.loc["B", "substitutions"] == 1
    assert table.loc["B", "error_rate"] == 0.5
    assert table.loc["0", "substituted_by"] == {"O": 1}
    assert table.loc["1", "deletions"] == 1 and table.loc["1", "error_rate"] == 1.0
    assert table.loc["<ins>", "insertions"] == 1


def test_confusion_pairs_most_frequent_first():
    pairs = confusion_pairs([("00", "OO"), ("0", "O"), ("8", "B")])
    assert pairs.iloc[0].tolist() == ["0", "O", 3]
    assert pairs.iloc[1].tolist() == ["8", "B", 1]


def test_char_boxes_matched_merged_split():
    truth = [(0, 0, 10, 20), (12, 0, 22, 20), (24, 0, 34, 20)]
    assert char_box_counts(truth, truth) == {"truth_chars": 3, "pred_chars": 3, "matched": 3, "merged": 0, "split": 0}
    merged = char_box_counts(truth, [(0, 0, 10, 20), (12, 0, 34, 20)])
    assert merged["matched"] == 1 and merged["merged"] == 1
    split = char_box_counts(truth, [(0, 0, 10, 20), (12, 0, 15, 20), (15, 0, 19, 20), (19, 0, 22, 20), (24, 0, 34, 20)])
    assert split["split"] == 1 and split["matched"] == 2
    assert iou_matrix([(0, 0, 10, 10)], [(5, 0, 15, 10)])[0, 0] == pytest.approx(50 / 150)


def test_latency_stats():
    s = latency_stats([10.0, 20.0, 30.0, 40.0])
    assert s["p50_ms"] == 25.0 and s["mean_ms"] == 25.0 and s["throughput_ips"] == 40.0
    assert latency_stats([])["p50_ms"] is None
    assert math.isclose(latency_stats([1.0] * 99 + [101.0])["p99_ms"], 2.0)
