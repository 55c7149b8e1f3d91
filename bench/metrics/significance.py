"""Is a difference between two engines (or two runs) real, or noise from a small test set?

Pure functions over per-image outcomes. A fixed seed makes every interval reproducible, so the
same run always renders the same report and the CI gate gives the same verdict twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

DEFAULT_SEED = 0
DEFAULT_RESAMPLES = 2000
_CHUNK = 250
"""Resamples drawn at once for :func:`mean_ci`: bounds memory to ``_CHUNK * n`` indices."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval (``nan`` when there is no data)."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on paired 0/1 outcomes of the same images.

    ``only_a``: images A got right and B got wrong; ``only_b`` the reverse. Only these
    discordant pairs carry information; ``p_value`` is two-sided.
    """

    only_a: int
    only_b: int
    n: int
    p_value: float


def _percentiles(stats: np.ndarray, estimate: float, n: int, confidence: float) -> Interval:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return Interval(float(estimate), float(low), float(high), n, confidence)


def _empty(confidence: float) -> Interval:
    return Interval(float("nan"), float("nan"), float("nan"), 0, confidence)


def proportion_ci(
    outcomes: Sequence[bool] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Percentile-bootstrap interval of the share of 1s in per-image 0/1 outcomes.

    Resampling n Bernoulli outcomes with replacement yields a count distributed as
    Binomial(n, observed share), so the resamples are drawn from that binomial directly: the
    same bootstrap distribution at O(n_resamples) cost, which keeps a 10,000-image run fast.

    When every outcome is the same (0 of n or n of n) the bootstrap collapses to a point and
    would claim certainty from three images; the exact (Clopper-Pearson) bound is used instead,
    e.g. 0 of 3 gives [0, 70.8%].
    """
    x = np.asarray(outcomes, dtype=float)
    if x.size == 0:
        return _empty(confidence)
    p = float(x.mean())
    if p in (0.0, 1.0):
        bound = ((1.0 - confidence) / 2.0) ** (1.0 / x.size)
        low, high = (0.0, 1.0 - bound) if p == 0.0 else (bound, 1.0)
        return Interval(p, low, high, int(x.size), confidence)
    rng = np.random.default_rng(seed)
    stats = rng.binomial(x.size, p, size=n_resamples) / x.size
    return _percentiles(stats, p, int(x.size), confidence)


def mean_ci(
    values: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Interval:
    """Percentile-bootstrap interval of a mean, or of ``sum(values) / sum(denominators)``.

    The ratio form exists because a corpus CER is total edits over total truth characters, not
    the mean of per-image rates; images are resampled as units so the pairing holds.
    """
    v = np.asarray(values, dtype=float)
    d = np.ones_like(v) if denominators is None else np.asarray(denominators, dtype=float)
    if v.size == 0 or d.sum() == 0:
        return _empty(confidence)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        idx = rng.integers(0, v.size, size=(stop - start, v.size))
        with np.errstate(invalid="ignore", divide="ignore"):
            stats[start:stop] = v[idx].sum(axis=1) / d[idx].sum(axis=1)
    stats = stats[np.isfinite(stats)]
    return _percentiles(stats, float(v.sum() / d.sum()), int(v.size), confidence)


def mcnemar_exact(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> McNemar:
    """Exact (binomial) McNemar test of whether A and B differ on the same images.

    Exact rather than chi-squared because engines that agree on most images leave only a
    handful of discordant pairs, where the chi-squared approximation is poor.
    """
    xa = np.asarray(a, dtype=bool)
    xb = np.asarray(b, dtype=bool)
    if xa.shape != xb.shape:
        raise ValueError(f"paired outcomes differ in length: {xa.size} vs {xb.size}")
    only_a = int(np.sum(xa & ~xb))
    only_b = int(np.sum(~xa & xb))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_a, discordant, 0.5).pvalue)
    return McNemar(only_a, only_b, int(xa.size), min(p, 1.0))
