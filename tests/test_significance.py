"""Significance functions against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.metrics.significance import mcnemar_exact, mean_ci, proportion_ci


def test_mcnemar_only_one_side_wins() -> None:
    # 5 discordant pairs all for B: p = 2 * 0.5**5
    a = [1, 1, 0, 0, 0, 0, 0]
    b = [1, 0, 1, 1, 1, 1, 1]
    r = mcnemar_exact(a, b)
    assert (r.only_a, r.only_b, r.n) == (1, 5, 7)
    # 1 vs 5 of 6: p = 2 * (C(6,0) + C(6,1)) / 2**6 = 14/64
    assert r.p_value == pytest.approx(14 / 64)


def test_mcnemar_one_against_nine() -> None:
    a = [True] * 1 + [False] * 9 + [True] * 40
    b = [False] * 1 + [True] * 9 + [True] * 40
    # 2 * (C(10,0) + C(10,1)) / 2**10 = 22/1024
    assert mcnemar_exact(a, b).p_value == pytest.approx(22 / 1024)


def test_mcnemar_no_discordant_pairs_is_no_evidence() -> None:
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0
    assert mcnemar_exact([], []).p_value == 1.0


def test_mcnemar_rejects_unpaired() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact([1, 0], [1])


def test_proportion_ci_all_same_uses_the_exact_bound() -> None:
    # 0 of 3: upper = 1 - 0.025 ** (1/3) = 0.7076; 10 of 10: lower = 0.025 ** (1/10) = 0.6915
    none = proportion_ci([0, 0, 0])
    assert (none.estimate, none.low) == (0.0, 0.0) and none.high == pytest.approx(0.7076, abs=1e-4)
    every = proportion_ci([1] * 10)
    assert every.low == pytest.approx(0.6915, abs=1e-4) and every.high == 1.0


def test_proportion_ci_empty() -> None:
    empty = proportion_ci([])
    assert empty.n == 0 and math.isnan(empty.estimate)


def test_proportion_ci_matches_normal_approximation() -> None:
    # p = 0.5, n = 1000: 95% half-width ~ 1.96 * sqrt(0.25 / 1000) = 0.031
    outcomes = np.array([1, 0] * 500)
    ci = proportion_ci(outcomes, n_resamples=4000)
    assert ci.estimate == 0.5
    assert ci.low == pytest.approx(0.469, abs=0.006)
    assert ci.high == pytest.approx(0.531, abs=0.006)


def test_proportion_ci_is_reproducible() -> None:
    outcomes = [1, 0, 1, 1, 0, 1, 1, 1]
    assert proportion_ci(outcomes) == proportion_ci(outcomes)
    assert proportion_ci(outcomes, seed=1) != proportion_ci(outcomes, seed=2)


def test_mean_ci_ratio_of_sums() -> None:
    # corpus CER = 3 edits / 12 chars, not the mean of per-image rates (0.25 + 0.5 + 0) / 3
    edits = [1, 2, 0]
    lengths = [4, 4, 4]
    ci = mean_ci(edits, lengths)
    assert ci.estimate == pytest.approx(0.25)
    assert 0.0 <= ci.low <= 0.25 <= ci.high <= 0.5


def test_mean_ci_constant_values() -> None:
    ci = mean_ci([2.0] * 10)
    assert (ci.estimate, ci.low, ci.high) == (2.0, 2.0, 2.0)
    assert math.isnan(mean_ci([]).estimate)
